// The idiomatic C# face of the C ABI: Gaia.Engine. C# 7.3 and .NET
// Standard 2.1 only (Mono's mcs, Unity, IL2CPP); no UnityEngine here.
using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Gaia.Native;

namespace Gaia
{
    /// <summary>Where <see cref="Engine.EventReceived"/> is raised.</summary>
    public enum EventDelivery
    {
        /// <summary>On the engine's event thread, as soon as events happen.</summary>
        EngineThread,
        /// <summary>Posted to the SynchronizationContext given to (or current at) Open.</summary>
        SynchronizationContext,
        /// <summary>Queued; raised by <see cref="Engine.DispatchEvents"/> on the thread that calls it
        /// (a game's main loop).</summary>
        Manual,
    }

    /// <summary>
    /// An open Gaia engine. Thread-safe. Dispose it (or call Close) when done:
    /// that stops the workers and releases the native handle. Dispose does not
    /// wait for calls blocked on other threads (Generate, Wait): they end with
    /// the "closed" GaiaException, and the last of them releases the handle.
    /// </summary>
    public sealed unsafe class Engine : IDisposable
    {
        // The delegates native code holds: static, kept alive for the process.
        private static readonly NativeMethods.gaia_generate_async_callback_delegate AssetDone = OnAssetDone;
        private static readonly NativeMethods.gaia_wait_async_callback_delegate JobDone = OnJobDone;
        private static readonly NativeMethods.gaia_subscribe_callback_delegate EventArrived = OnEvent;

        // Guards the fields below, never a native call: a blocking call (Generate, Wait)
        // must not hold up Dispose or DispatchEvents on another thread.
        private readonly object gate = new object();
        private readonly EventDelivery delivery;
        private readonly SynchronizationContext context;
        private GaiaEngine* handle;
        private GaiaSubscription* subscription;
        private GCHandle self;
        private bool closed;
        // Native calls running now. After Dispose the last of them to return frees the handles.
        private int inFlight;

        private Engine(GaiaEngine* handle, EventDelivery delivery, SynchronizationContext context)
        {
            this.handle = handle;
            this.delivery = delivery;
            this.context = context;
        }

        /// <summary>The C ABI version of the loaded native library.</summary>
        public static uint AbiVersion { get { return NativeMethods.gaia_abi_version(); } }

        /// <summary>The ABI version this wrapper was generated against.</summary>
        public const uint ExpectedAbiVersion = NativeMethods.GAIA_ABI_VERSION;

        /// <summary>The native library's version.</summary>
        public static string Version { get { return Utf8.ToString(NativeMethods.gaia_version()); } }

        /// <summary>Raised for each engine event, on the thread <see cref="EventDelivery"/> chose.</summary>
        public event EventHandler<GaiaEvent> EventReceived;

        /// <summary>Opens an engine from EngineConfig JSON ({"path":".gaia"}).</summary>
        public static Engine Open(string configJson, EventDelivery delivery = EventDelivery.EngineThread,
            SynchronizationContext context = null)
        {
            if (AbiVersion != ExpectedAbiVersion)
            {
                throw new GaiaException("internal", NativeMethods.GAIA_INTERNAL,
                    "native gaia_ffi has ABI " + AbiVersion + ", this wrapper expects " + ExpectedAbiVersion);
            }
            if (delivery == EventDelivery.SynchronizationContext)
            {
                context = context ?? SynchronizationContext.Current;
                if (context == null)
                {
                    throw new ArgumentException("EventDelivery.SynchronizationContext needs a context", "context");
                }
            }
            GaiaEngine* native = null;
            GaiaError* error = null;
            var config = Utf8.Bytes(configJson);
            int status;
            fixed (byte* c = config)
            {
                status = NativeMethods.gaia_engine_open(c, &native, &error);
            }
            GaiaException.Check(status, error);
            var engine = new Engine(native, delivery, context);
            try
            {
                engine.Subscribe();
            }
            catch
            {
                engine.Dispose();
                throw;
            }
            return engine;
        }

        /// <summary>Opens an engine storing everything under a folder.</summary>
        public static Engine OpenAt(string path, EventDelivery delivery = EventDelivery.EngineThread)
        {
            return Open("{\"path\":" + Json.Quote(path) + "}", delivery);
        }

        private void Subscribe()
        {
            self = GCHandle.Alloc(this, GCHandleType.Weak);
            GaiaSubscription* sub = null;
            GaiaError* error = null;
            int status = delivery == EventDelivery.Manual
                ? NativeMethods.gaia_subscribe_queue(handle, &sub, &error)
                : NativeMethods.gaia_subscribe(handle, EventArrived, (void*)GCHandle.ToIntPtr(self), &sub, &error);
            GaiaException.Check(status, error);
            subscription = sub;
        }

        /// <summary>Submits a request, waits, and returns its first asset. Blocks.</summary>
        public Asset Generate(string requestJson)
        {
            return Asset.Parse(CallString((e, r, o, err) => NativeMethods.gaia_generate(e, r, o, err), requestJson));
        }

        /// <summary>Submits a request; the task completes (from an engine thread) with its first asset.</summary>
        public Task<Asset> GenerateAsync(string requestJson)
        {
            var source = new TaskCompletionSource<Asset>(TaskCreationOptions.RunContinuationsAsynchronously);
            var request = Utf8.Bytes(requestJson);
            GaiaError* error = null;
            int status;
            // Entered before the GCHandle exists: on a disposed engine it throws with nothing to free.
            var engine = Enter();
            var pending = GCHandle.Alloc(source);
            try
            {
                fixed (byte* r = request)
                {
                    status = NativeMethods.gaia_generate_async(engine, r, AssetDone,
                        (void*)GCHandle.ToIntPtr(pending), null, &error);
                }
            }
            finally
            {
                Leave();
            }
            if (status != NativeMethods.GAIA_OK)
            {
                pending.Free();
                GaiaException.Check(status, error);
            }
            return source.Task;
        }

        /// <summary>Submits a request and returns its job id at once.</summary>
        public string Submit(string requestJson)
        {
            return CallString((e, r, o, err) => NativeMethods.gaia_submit(e, r, o, err), requestJson);
        }

        /// <summary>Waits until a job has ended. Blocks.</summary>
        public Job Wait(string jobId)
        {
            return Job.Parse(CallString((e, r, o, err) => NativeMethods.gaia_wait(e, r, o, err), jobId));
        }

        /// <summary>A task completed (from an engine thread) when the job has ended.</summary>
        public Task<Job> WaitAsync(string jobId)
        {
            var source = new TaskCompletionSource<Job>(TaskCreationOptions.RunContinuationsAsynchronously);
            var id = Utf8.Bytes(jobId);
            GaiaError* error = null;
            int status;
            var engine = Enter();
            var pending = GCHandle.Alloc(source);
            try
            {
                fixed (byte* j = id)
                {
                    status = NativeMethods.gaia_wait_async(engine, j, JobDone,
                        (void*)GCHandle.ToIntPtr(pending), &error);
                }
            }
            finally
            {
                Leave();
            }
            if (status != NativeMethods.GAIA_OK)
            {
                pending.Free();
                GaiaException.Check(status, error);
            }
            return source.Task;
        }

        public Job GetJob(string jobId)
        {
            return Job.Parse(CallString((e, r, o, err) => NativeMethods.gaia_job(e, r, o, err), jobId));
        }

        public Job Cancel(string jobId)
        {
            return Job.Parse(CallString((e, r, o, err) => NativeMethods.gaia_cancel(e, r, o, err), jobId));
        }

        public Job Retry(string jobId)
        {
            return Job.Parse(CallString((e, r, o, err) => NativeMethods.gaia_retry(e, r, o, err), jobId));
        }

        public Asset GetAsset(string assetId)
        {
            return Asset.Parse(CallString((e, r, o, err) => NativeMethods.gaia_asset(e, r, o, err), assetId));
        }

        /// <summary>The same call as <see cref="GetAsset"/>, returning the wire JSON unparsed.</summary>
        public string GetAssetJson(string assetId)
        {
            return CallString((e, r, o, err) => NativeMethods.gaia_asset(e, r, o, err), assetId);
        }

        /// <summary>An asset's bytes (PNG, WAV, GLB, ...).</summary>
        public byte[] ReadBytes(string assetId)
        {
            var id = Utf8.Bytes(assetId);
            byte* data = null;
            UIntPtr length = UIntPtr.Zero;
            GaiaError* error = null;
            int status;
            var engine = Enter();
            try
            {
                fixed (byte* a = id)
                {
                    status = NativeMethods.gaia_read_bytes(engine, a, &data, &length, &error);
                }
            }
            finally
            {
                Leave();
            }
            GaiaException.Check(status, error);
            try
            {
                var bytes = new byte[(int)length.ToUInt32()];
                if (bytes.Length > 0)
                {
                    Marshal.Copy((IntPtr)data, bytes, 0, bytes.Length);
                }
                return bytes;
            }
            finally
            {
                NativeMethods.gaia_bytes_free(data, length);
            }
        }

        /// <summary>
        /// A URL that downloads an asset's bytes without credentials until <paramref name="ttl"/>
        /// (whole seconds) has passed: a presigned URL of an S3 blob store. Other blob stores cannot
        /// sign one: a GaiaException "invalid_request" naming "blobs"; read those with ReadBytes.
        /// </summary>
        public string AssetUrl(string assetId, TimeSpan ttl)
        {
            var seconds = WholeSeconds(ttl, "ttl");
            var id = Utf8.Bytes(assetId);
            byte* output = null;
            GaiaError* error = null;
            int status;
            var engine = Enter();
            try
            {
                fixed (byte* a = id)
                {
                    status = NativeMethods.gaia_asset_url(engine, a, seconds, &output, &error);
                }
            }
            finally
            {
                Leave();
            }
            return TakeString(status, output, error);
        }

        /// <summary><see cref="AssetUrl(string, TimeSpan)"/> for one hour.</summary>
        public string AssetUrl(string assetId)
        {
            return AssetUrl(assetId, TimeSpan.FromHours(1));
        }

        /// <summary>
        /// Deletes every job that ended more than <paramref name="olderThan"/> (whole seconds) ago,
        /// with its log; their assets and costs stay. Returns how many jobs went.
        /// </summary>
        public long PruneJobs(TimeSpan olderThan)
        {
            var seconds = WholeSeconds(olderThan, "olderThan");
            ulong count = 0;
            GaiaError* error = null;
            int status;
            var engine = Enter();
            try
            {
                status = NativeMethods.gaia_prune_jobs(engine, seconds, &count, &error);
            }
            finally
            {
                Leave();
            }
            GaiaException.Check(status, error);
            return count > long.MaxValue ? long.MaxValue : (long)count;
        }

        /// <summary>A page of assets as wire JSON ({"items":[...],"next_cursor":...}).</summary>
        public string AssetsJson(string filterJson = null, string pageJson = null)
        {
            var filter = Utf8.Bytes(filterJson);
            var page = Utf8.Bytes(pageJson);
            byte* output = null;
            GaiaError* error = null;
            int status;
            var engine = Enter();
            try
            {
                fixed (byte* f = filter)
                fixed (byte* p = page)
                {
                    status = NativeMethods.gaia_assets(engine, f, p, &output, &error);
                }
            }
            finally
            {
                Leave();
            }
            return TakeString(status, output, error);
        }

        /// <summary>The configured providers, their models and prices, as JSON.</summary>
        public string ProvidersJson()
        {
            byte* output = null;
            GaiaError* error = null;
            int status;
            var engine = Enter();
            try
            {
                status = NativeMethods.gaia_providers(engine, &output, &error);
            }
            finally
            {
                Leave();
            }
            return TakeString(status, output, error);
        }

        /// <summary>
        /// Raises the queued events on the calling thread (EventDelivery.Manual);
        /// returns how many. Call it from the host's main loop.
        /// </summary>
        public int DispatchEvents(int max = int.MaxValue)
        {
            if (delivery != EventDelivery.Manual)
            {
                throw new InvalidOperationException("DispatchEvents needs EventDelivery.Manual");
            }
            var count = 0;
            while (count < max)
            {
                byte* output = null;
                GaiaError* error = null;
                int status;
                GaiaSubscription* queue;
                lock (gate)
                {
                    if (closed || subscription == null)
                    {
                        break;
                    }
                    queue = subscription;
                    inFlight++;
                }
                try
                {
                    status = NativeMethods.gaia_poll_event(queue, &output, &error);
                }
                finally
                {
                    Leave();
                }
                if (status == NativeMethods.GAIA_EMPTY)
                {
                    break;
                }
                var json = TakeString(status, output, error);
                count++;
                Raise(GaiaEvent.Parse(json));
            }
            return count;
        }

        /// <summary>Stops the engine (running jobs get their grace period); later calls throw.</summary>
        public void Close()
        {
            Dispose();
        }

        public void Dispose()
        {
            Release();
            GC.SuppressFinalize(this);
        }

        ~Engine()
        {
            Release();
        }

        private void Release()
        {
            GaiaSubscription* callbacks = null;
            GaiaEngine* native;
            lock (gate)
            {
                if (closed)
                {
                    return;
                }
                closed = true;
                // Held while closing, so that no returning call frees the handle under us.
                inFlight++;
                native = handle;
                // No call uses a callback subscription: it stops now, so that no event is raised
                // after Dispose. A queue one may be polled right now: the last call out frees it.
                if (delivery != EventDelivery.Manual)
                {
                    callbacks = subscription;
                    subscription = null;
                }
            }
            try
            {
                // Returns once a running event callback has finished.
                NativeMethods.gaia_subscription_free(callbacks);
                // Blocked calls (Generate, Wait) on other threads now return the "closed" error,
                // pending tasks fail with it; the handles are freed once the last call is out.
                NativeMethods.gaia_engine_close(native, null);
            }
            finally
            {
                Leave();
            }
        }

        /// <summary>
        /// Starts a native call: the handle stays valid until the matching <see cref="Leave"/>,
        /// also if Dispose runs meanwhile. Throws once disposed.
        /// </summary>
        private GaiaEngine* Enter()
        {
            lock (gate)
            {
                if (closed)
                {
                    throw new ObjectDisposedException("Gaia.Engine");
                }
                inFlight++;
                return handle;
            }
        }

        /// <summary>Ends a native call; the last one out after Dispose frees the handles.</summary>
        private void Leave()
        {
            GaiaSubscription* sub;
            GaiaEngine* native;
            lock (gate)
            {
                inFlight--;
                if (!closed || inFlight > 0)
                {
                    return;
                }
                sub = subscription;
                native = handle;
                subscription = null;
                handle = null;
            }
            // Returns once a running event callback has finished.
            NativeMethods.gaia_subscription_free(sub);
            // Returns once running completion callbacks have finished.
            NativeMethods.gaia_engine_free(native);
            if (self.IsAllocated)
            {
                self.Free();
            }
        }

        /// <summary>A duration argument as the whole seconds the C ABI takes.</summary>
        private static ulong WholeSeconds(TimeSpan span, string name)
        {
            if (span < TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, span, "must not be negative");
            }
            return (ulong)(span.Ticks / TimeSpan.TicksPerSecond);
        }

        private delegate int StringCall(GaiaEngine* engine, byte* argument, byte** output, GaiaError** error);

        /// <summary>One string argument in, one string out.</summary>
        private string CallString(StringCall call, string argument)
        {
            var bytes = Utf8.Bytes(argument);
            byte* output = null;
            GaiaError* error = null;
            int status;
            // Not under the lock: the call may block until a generation ends.
            var engine = Enter();
            try
            {
                fixed (byte* a = bytes)
                {
                    status = call(engine, a, &output, &error);
                }
            }
            finally
            {
                Leave();
            }
            return TakeString(status, output, error);
        }

        private static string TakeString(int status, byte* output, GaiaError* error)
        {
            GaiaException.Check(status, error);
            try
            {
                return Utf8.ToString(output);
            }
            finally
            {
                NativeMethods.gaia_string_free(output);
            }
        }

        private void Raise(GaiaEvent gaiaEvent)
        {
            var handler = EventReceived;
            if (handler == null)
            {
                return;
            }
            try
            {
                handler(this, gaiaEvent);
            }
            catch (Exception)
            {
                // A host handler's exception must not reach native code.
            }
        }

        [MonoPInvokeCallback(typeof(NativeMethods.gaia_subscribe_callback_delegate))]
        private static void OnEvent(void* userData, byte* eventJson)
        {
            try
            {
                var engine = GCHandle.FromIntPtr((IntPtr)userData).Target as Engine;
                if (engine == null)
                {
                    return;
                }
                var gaiaEvent = GaiaEvent.Parse(Utf8.ToString(eventJson));
                if (engine.delivery == EventDelivery.SynchronizationContext)
                {
                    engine.context.Post(state => engine.Raise((GaiaEvent)state), gaiaEvent);
                }
                else
                {
                    engine.Raise(gaiaEvent);
                }
            }
            catch (Exception)
            {
                // Never let an exception unwind into native code.
            }
        }

        [MonoPInvokeCallback(typeof(NativeMethods.gaia_generate_async_callback_delegate))]
        private static void OnAssetDone(void* userData, int status, byte* json, GaiaError* error)
        {
            Complete<Asset>(userData, status, json, error, Asset.Parse);
        }

        [MonoPInvokeCallback(typeof(NativeMethods.gaia_wait_async_callback_delegate))]
        private static void OnJobDone(void* userData, int status, byte* json, GaiaError* error)
        {
            Complete<Job>(userData, status, json, error, Job.Parse);
        }

        private static void Complete<T>(void* userData, int status, byte* json, GaiaError* error, Func<string, T> parse)
        {
            try
            {
                var pending = GCHandle.FromIntPtr((IntPtr)userData);
                var source = (TaskCompletionSource<T>)pending.Target;
                pending.Free();
                try
                {
                    if (status == NativeMethods.GAIA_OK)
                    {
                        source.TrySetResult(parse(Utf8.ToString(json)));
                    }
                    else
                    {
                        // The error is borrowed: read it, never free it.
                        source.TrySetException(GaiaException.FromNative(status, error));
                    }
                }
                catch (Exception exception)
                {
                    source.TrySetException(exception);
                }
            }
            catch (Exception)
            {
                // Never let an exception unwind into native code.
            }
        }
    }
}
