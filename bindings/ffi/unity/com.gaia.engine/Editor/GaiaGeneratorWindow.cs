// Window > Gaia > Generator: generates an image into Assets/ and sets its
// import settings (repeat wrap mode for tileable textures, normal-map type
// for normal maps). The editor's engine closes before every domain reload.
using System;
using System.IO;
using Gaia.Unity;
using UnityEditor;
using UnityEngine;

namespace Gaia.Editor
{
    public sealed class GaiaGeneratorWindow : EditorWindow
    {
        private static Engine engine;

        private string prompt = "mossy cobblestone";
        private int width = 512;
        private int height = 512;
        private bool tileable = true;
        private bool normalMap;
        private string folder = "Assets/Generated";
        private string status = "";
        private bool busy;

        [MenuItem("Window/Gaia/Generator")]
        private static void ShowWindow()
        {
            GetWindow<GaiaGeneratorWindow>("Gaia");
        }

        [InitializeOnLoadMethod]
        private static void HookLifecycle()
        {
            AssemblyReloadEvents.beforeAssemblyReload += CloseEngine;
            EditorApplication.quitting += CloseEngine;
        }

        /// <summary>The editor's engine: its events are drained on the main thread.</summary>
        private static Engine EditorEngine
        {
            get
            {
                if (engine == null)
                {
                    engine = Engine.Open("{\"path\":\"Library/Gaia\"}", EventDelivery.Manual);
                    EditorApplication.update += DispatchEvents;
                }
                return engine;
            }
        }

        private static void DispatchEvents()
        {
            if (engine != null)
            {
                engine.DispatchEvents(64);
            }
        }

        private static void CloseEngine()
        {
            EditorApplication.update -= DispatchEvents;
            var closing = engine;
            engine = null;
            if (closing != null)
            {
                closing.Dispose();
            }
        }

        private void OnGUI()
        {
            prompt = EditorGUILayout.TextField("Prompt", prompt);
            width = EditorGUILayout.IntSlider("Width", width, 64, 2048);
            height = EditorGUILayout.IntSlider("Height", height, 64, 2048);
            tileable = EditorGUILayout.Toggle("Tileable", tileable);
            normalMap = EditorGUILayout.Toggle("Normal map", normalMap);
            folder = EditorGUILayout.TextField("Folder", folder);
            using (new EditorGUI.DisabledScope(busy || !folder.StartsWith("Assets", StringComparison.Ordinal)))
            {
                if (GUILayout.Button("Generate"))
                {
                    Generate();
                }
            }
            EditorGUILayout.HelpBox(status, MessageType.None);
        }

        private async void Generate()
        {
            busy = true;
            status = "Generating...";
            var current = EditorEngine;
            EventHandler<GaiaEvent> progress = (sender, e) =>
            {
                if (e.Type == "job_progress")
                {
                    status = "Generating... " + e.Fields["progress"] + "%";
                    Repaint();
                }
            };
            current.EventReceived += progress;
            try
            {
                var asset = await current.GenerateAsync(GaiaUnity.ImageRequest(prompt, width, height, tileable, "editor"));
                // Continues on the main thread: the editor's SynchronizationContext.
                Directory.CreateDirectory(folder);
                var path = folder + "/" + (asset.Name ?? asset.Id) + "." + (asset.Format ?? "png");
                File.WriteAllBytes(path, current.ReadBytes(asset.Id));
                AssetDatabase.ImportAsset(path);
                var importer = (TextureImporter)AssetImporter.GetAtPath(path);
                if (importer != null)
                {
                    if (normalMap)
                    {
                        importer.textureType = TextureImporterType.NormalMap;
                    }
                    importer.wrapMode = asset.Tileable == true ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
                    importer.SaveAndReimport();
                }
                EditorGUIUtility.PingObject(AssetDatabase.LoadMainAssetAtPath(path));
                status = "Saved " + path;
            }
            catch (GaiaException e)
            {
                status = e.Code + ": " + e.Message;
            }
            catch (ObjectDisposedException)
            {
                status = "The engine closed (domain reload); generate again.";
            }
            finally
            {
                current.EventReceived -= progress;
                busy = false;
                Repaint();
            }
        }
    }
}
