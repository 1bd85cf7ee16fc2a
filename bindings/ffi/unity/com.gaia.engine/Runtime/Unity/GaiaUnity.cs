// Unity glue for the core Gaia assembly: one shared engine whose events and
// task continuations reach scripts on the main thread, and texture helpers.
using System;
using System.IO;
using System.Threading;
using UnityEngine;

namespace Gaia.Unity
{
    public static class GaiaUnity
    {
        private static Engine shared;

        /// <summary>
        /// The shared engine (opened on first use, from the main thread) storing
        /// under persistentDataPath/gaia. Its events are posted to Unity's main
        /// thread; awaiting its tasks on the main thread resumes there too.
        /// </summary>
        public static Engine Engine
        {
            get
            {
                if (shared == null)
                {
                    var path = Path.Combine(Application.persistentDataPath, "gaia");
                    shared = Engine.Open("{\"path\":" + Json.Quote(path) + "}",
                        EventDelivery.SynchronizationContext, SynchronizationContext.Current);
                    Application.quitting += Close;
#if UNITY_EDITOR
                    // A domain reload would otherwise leave the native engine, its worker threads
                    // and its callbacks running into the unloaded scripts.
                    UnityEditor.AssemblyReloadEvents.beforeAssemblyReload += Close;
#endif
                }
                return shared;
            }
        }

        /// <summary>Closes the shared engine (on quit, or before a domain reload).</summary>
        public static void Close()
        {
            Application.quitting -= Close;
#if UNITY_EDITOR
            UnityEditor.AssemblyReloadEvents.beforeAssemblyReload -= Close;
#endif
            var engine = shared;
            shared = null;
            if (engine != null)
            {
                engine.Dispose();
            }
        }

        /// <summary>An image request as wire JSON.</summary>
        public static string ImageRequest(string prompt, int width, int height, bool tileable,
            string clientId = "unity")
        {
            return "{\"client_id\":" + Json.Quote(clientId) +
                   ",\"spec\":{\"kind\":\"image\",\"prompt\":" + Json.Quote(prompt) +
                   ",\"width\":" + width + ",\"height\":" + height +
                   ",\"tileable\":" + (tileable ? "true" : "false") + "}}";
        }

        /// <summary>A texture from an image asset's bytes; tileable ones repeat.</summary>
        public static Texture2D ToTexture(Asset asset, byte[] bytes, bool linear = false)
        {
            var texture = new Texture2D(2, 2, TextureFormat.RGBA32, true, linear);
            if (!texture.LoadImage(bytes))
            {
                throw new GaiaException("invalid_output", 10, "Unity could not decode asset " + asset.Id);
            }
            texture.name = asset.Name ?? asset.Id;
            texture.wrapMode = asset.Tileable == true ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
            return texture;
        }
    }
}
