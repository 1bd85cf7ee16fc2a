// Generates a texture when the scene starts and applies it to this object's
// material. The await resumes on the main thread (Unity's context), so
// touching the material afterwards is safe.
using Gaia;
using Gaia.Unity;
using UnityEngine;

[RequireComponent(typeof(Renderer))]
public class GenerateTextureSample : MonoBehaviour
{
    public string prompt = "mossy cobblestone";
    public int size = 256;
    public bool tileable = true;

    private async void Start()
    {
        var engine = GaiaUnity.Engine;
        engine.EventReceived += OnGaiaEvent;
        try
        {
            var asset = await engine.GenerateAsync(GaiaUnity.ImageRequest(prompt, size, size, tileable));
            var texture = GaiaUnity.ToTexture(asset, engine.ReadBytes(asset.Id));
            GetComponent<Renderer>().material.mainTexture = texture;
            Debug.Log("Gaia: applied " + asset.Id + " (" + asset.Width + "x" + asset.Height + ")");
        }
        catch (GaiaException e)
        {
            Debug.LogError("Gaia: " + e.Code + ": " + e.Message);
        }
        finally
        {
            engine.EventReceived -= OnGaiaEvent;
        }
    }

    private void OnGaiaEvent(object sender, GaiaEvent e)
    {
        // Raised on the main thread (EventDelivery.SynchronizationContext).
        if (e.Type == "job_progress")
        {
            Debug.Log("Gaia: progress " + e.Fields["progress"] + "%");
        }
    }
}
