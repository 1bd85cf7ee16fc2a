// End-to-end test of the C# wrapper under Mono against the built library.
// Prints "N passed, M failed"; "--bench N" prints the per-call overhead.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Gaia;

internal static class TestGaia
{
    private const string Request =
        "{\"client_id\":\"demo\",\"spec\":{\"kind\":\"image\",\"prompt\":\"moss\",\"width\":64,\"height\":64}}";

    private static int passed;
    private static int failed;

    private static void Check(bool condition, string what)
    {
        if (condition)
        {
            passed++;
        }
        else
        {
            failed++;
            Console.Error.WriteLine("FAIL " + what);
        }
    }

    private static void Throws(Action action, string code, string needle, string what)
    {
        try
        {
            action();
            Check(false, what + ": no exception");
        }
        catch (GaiaException e)
        {
            Check(e.Code == code, what + ": code " + e.Code + ", want " + code);
            Check(e.Status == StatusOf(code), what + ": status " + e.Status);
            Check(needle == null || e.Message.Contains(needle), what + ": message " + e.Message);
        }
        catch (Exception e)
        {
            Check(false, what + ": " + e.GetType().Name + ": " + e.Message);
        }
    }

    private static int StatusOf(string code)
    {
        switch (code)
        {
            case "invalid_request": return 1;
            case "not_found": return 2;
            default: return 13;
        }
    }

    private static GaiaException TaskError(Task task)
    {
        try
        {
            task.Wait(TimeSpan.FromSeconds(30));
        }
        catch (AggregateException e)
        {
            return e.InnerException as GaiaException;
        }
        return null;
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "gaia-cs-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Config(string dir, int workers)
    {
        return "{\"path\":" + Json.Quote(dir) + ",\"workers\":" + workers + "}";
    }

    /// <summary>A context that queues posts until Drain runs them, like a game loop.</summary>
    private sealed class LoopContext : SynchronizationContext
    {
        private readonly ConcurrentQueue<KeyValuePair<SendOrPostCallback, object>> posts =
            new ConcurrentQueue<KeyValuePair<SendOrPostCallback, object>>();

        public override void Post(SendOrPostCallback d, object state)
        {
            posts.Enqueue(new KeyValuePair<SendOrPostCallback, object>(d, state));
        }

        public int Drain()
        {
            var count = 0;
            KeyValuePair<SendOrPostCallback, object> post;
            while (posts.TryDequeue(out post))
            {
                post.Key(post.Value);
                count++;
            }
            return count;
        }
    }

    private static int Bench(int n)
    {
        var dir = TempDir();
        try
        {
            using (var engine = Engine.Open(Config(dir, 1)))
            {
                var id = engine.Generate(Request).Id;
                for (var i = 0; i < 200; i++) engine.GetAssetJson(id);
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < n; i++) engine.GetAssetJson(id);
                var raw = watch.Elapsed.TotalMilliseconds * 1000 / n;
                watch.Restart();
                for (var i = 0; i < n; i++) engine.GetAsset(id);
                var parsed = watch.Elapsed.TotalMilliseconds * 1000 / n;
                Console.WriteLine("C# GetAssetJson round trip: {0:F1} us per call ({1} calls)", raw, n);
                Console.WriteLine("C# GetAsset (parsed to Asset): {0:F1} us per call ({1} calls)", parsed, n);
            }
            return 0;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--bench")
        {
            return Bench(int.Parse(args[1]));
        }
        var dir = TempDir();
        try
        {
            Run(dir);
        }
        catch (Exception e)
        {
            failed++;
            Console.Error.WriteLine("FAIL unexpected " + e);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (Exception) { }
        }
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// A thread blocked in Generate must hold up neither DispatchEvents nor Dispose on the main
    /// thread (a Unity editor's): Dispose ends the blocked call with the "closed" error.
    /// </summary>
    private static void DisposeWhileBlocked()
    {
        var dir = TempDir();
        try
        {
            // Workers 0: the job never runs, the Generate blocks until the engine closes.
            var engine = Engine.Open(Config(dir, 0), EventDelivery.Manual);
            var queued = false;
            engine.EventReceived += (sender, e) => queued |= e.Type == "job_queued";
            Exception blockedError = null;
            var blocked = new Thread(() =>
            {
                try
                {
                    engine.Generate(Request);
                }
                catch (Exception e)
                {
                    blockedError = e;
                }
            });
            blocked.IsBackground = true;
            blocked.Start();
            // The job_queued event says the Generate is inside the native call.
            var dispatching = Task.Run(() =>
            {
                while (!queued)
                {
                    engine.DispatchEvents();
                    Thread.Sleep(10); // a frame
                }
            });
            var dispatched = dispatching.Wait(TimeSpan.FromSeconds(30));
            Check(dispatched, "DispatchEvents runs while a Generate blocks");
            if (!dispatched)
            {
                // Unblock it: another engine on the store runs the job.
                using (var rescue = Engine.Open(Config(dir, 1)))
                {
                    Check(blocked.Join(TimeSpan.FromSeconds(30)), "the blocked Generate ends once its job ran");
                }
            }
            var disposing = Task.Run(() => engine.Dispose());
            Check(disposing.Wait(TimeSpan.FromSeconds(30)), "Dispose returns while a Generate blocks");
            Check(blocked.Join(TimeSpan.FromSeconds(30)), "the blocked Generate returns after Dispose");
            var closedError = blockedError as GaiaException;
            Check(closedError != null && closedError.Code == "invalid_request" && closedError.Message.Contains("closed"),
                "the blocked Generate fails with the closed error: " + blockedError);
            Check(engine.DispatchEvents() == 0, "DispatchEvents after Dispose");
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (Exception) { }
        }
    }

    private static void Run(string dir)
    {
        var mainThread = Thread.CurrentThread.ManagedThreadId;

        // ---- version ----
        Check(Engine.AbiVersion == Engine.ExpectedAbiVersion, "ABI version " + Engine.AbiVersion);
        Check(!string.IsNullOrEmpty(Engine.Version), "library version");

        // ---- open: errors ----
        Throws(() => Engine.Open("{\"path\":"), "invalid_request", null, "open malformed JSON");
        Throws(() => Engine.Open("{\"pth\":1}"), "invalid_request", "pth", "open unknown field");
        Throws(() => Engine.Open(null), "invalid_request", "config_json", "open null");

        var engine = Engine.Open(Config(dir, 2));
        var events = new ConcurrentQueue<GaiaEvent>();
        var eventThreads = new ConcurrentBag<int>();
        engine.EventReceived += (sender, e) =>
        {
            events.Enqueue(e);
            eventThreads.Add(Thread.CurrentThread.ManagedThreadId);
        };

        // ---- blocking generate, asset by id, bytes ----
        var asset = engine.Generate(Request);
        Check(asset.Type == "image" && asset.Width == 64 && asset.Height == 64, "generated image " + asset.Json);
        Check(asset.Mime == "image/png" && asset.Provider == "procedural", "asset fields");
        Check(engine.GetAsset(asset.Id).Sha256 == asset.Sha256, "asset by id");
        var bytes = engine.ReadBytes(asset.Id);
        Check(bytes.Length == asset.SizeBytes && bytes[0] == 0x89 && bytes[1] == (byte)'P', "PNG bytes");

        // ---- Task<Asset> completed from the native callback ----
        var task = engine.GenerateAsync(Request);
        Check(task.Wait(TimeSpan.FromSeconds(30)), "GenerateAsync completes");
        Check(task.Status == TaskStatus.RanToCompletion && task.Result.Type == "image", "GenerateAsync asset");

        // ---- submit, WaitAsync, Wait, GetJob ----
        var jobId = engine.Submit(Request);
        Check(jobId != null && jobId.Length == 36, "Submit returns a job id");
        var waited = engine.WaitAsync(jobId);
        Check(waited.Wait(TimeSpan.FromSeconds(30)) && waited.Result.Status == "succeeded", "WaitAsync job");
        Check(engine.Wait(jobId).AssetIds.Count == 1, "Wait job");
        Check(engine.GetJob(jobId).IsFinished, "GetJob");

        // ---- events on the engine thread ----
        for (var i = 0; i < 100 && !events.Any(e => e.Type == "job_succeeded" && e.JobId == jobId); i++)
            Thread.Sleep(20);
        Check(events.Any(e => e.Type == "job_succeeded" && e.JobId == jobId), "job_succeeded event");
        Check(events.Any(e => e.Type == "job_queued" && e.Seq > 0), "job_queued event with seq");
        Check(eventThreads.All(t => t != mainThread), "events raised on an engine thread");

        // ---- error paths ----
        Throws(() => engine.GetAsset("00000000-0000-7000-8000-000000000000"), "not_found", null, "unknown asset");
        Throws(() => engine.GetJob("nope"), "not_found", "nope", "bad job id");
        Throws(() => engine.Generate("{\"client_id\":"), "invalid_request", null, "malformed request");
        Throws(() => engine.Generate(null), "invalid_request", "request_json", "null request");
        Throws(() => engine.Submit("{\"client_id\":\"demo\",\"spec\":{\"kind\":\"image\",\"prompt\":\"m\",\"wdth\":1}}"),
            "invalid_request", "wdth", "unknown field");
        Throws(() => engine.GenerateAsync("{}"), "invalid_request", null, "GenerateAsync invalid request");
        var missing = TaskError(engine.WaitAsync("00000000-0000-7000-8000-000000000000"));
        Check(missing != null && missing.Code == "not_found", "WaitAsync error completes the task");
        try { engine.DispatchEvents(); Check(false, "DispatchEvents mode"); }
        catch (InvalidOperationException) { Check(true, "DispatchEvents mode"); }

        // ---- download URLs: the file blob store cannot sign them ----
        Throws(() => engine.AssetUrl(asset.Id), "invalid_request", "blobs", "AssetUrl on file blobs");
        Throws(() => engine.AssetUrl("00000000-0000-7000-8000-000000000000", TimeSpan.FromMinutes(1)),
            "not_found", null, "AssetUrl of an unknown asset");
        Throws(() => engine.AssetUrl(null), "invalid_request", "asset_id", "AssetUrl null id");
        try { engine.AssetUrl(asset.Id, TimeSpan.FromSeconds(-1)); Check(false, "AssetUrl negative ttl"); }
        catch (ArgumentOutOfRangeException) { Check(true, "AssetUrl negative ttl"); }

        // ---- several threads at once ----
        var ok = 0;
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < 2; i++)
            {
                var a = engine.Generate(Request);
                if (engine.GetAsset(a.Id).Id == a.Id && engine.ReadBytes(a.Id).Length == a.SizeBytes)
                    Interlocked.Increment(ref ok);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Check(ok == 8, "threads: " + ok + " of 8");
        var many = Enumerable.Range(0, 8).Select(_ => engine.GenerateAsync(Request)).ToArray();
        Check(Task.WaitAll(many, TimeSpan.FromSeconds(60)) && many.All(t => t.Result.Type == "image"),
            "8 concurrent GenerateAsync");

        // ---- dispose: later calls throw; twice is fine ----
        engine.Dispose();
        engine.Dispose();
        try { engine.GetAsset(asset.Id); Check(false, "call after Dispose"); }
        catch (ObjectDisposedException) { Check(true, "call after Dispose"); }
        try { engine.GenerateAsync(Request); Check(false, "GenerateAsync after Dispose"); }
        catch (ObjectDisposedException) { Check(true, "GenerateAsync after Dispose"); }
        try { engine.WaitAsync(jobId); Check(false, "WaitAsync after Dispose"); }
        catch (ObjectDisposedException) { Check(true, "WaitAsync after Dispose"); }

        DisposeWhileBlocked();

        // ---- Manual delivery: DispatchEvents on the caller's thread ----
        using (var manual = Engine.Open(Config(dir, 2), EventDelivery.Manual))
        {
            var seen = new List<GaiaEvent>();
            var threadsSeen = new List<int>();
            manual.EventReceived += (sender, e) =>
            {
                seen.Add(e);
                threadsSeen.Add(Thread.CurrentThread.ManagedThreadId);
            };
            Check(manual.DispatchEvents() == 0, "nothing to dispatch yet");
            manual.Generate(Request);
            var count = manual.DispatchEvents();
            Check(count >= 4 && seen.Count == count, "dispatched " + count);
            Check(seen.Count > 0 && seen[0].Type == "job_queued", "first event job_queued");
            Check(seen.Any(e => e.Type == "job_succeeded"), "job_succeeded dispatched");
            Check(threadsSeen.All(t => t == mainThread), "raised on the dispatching thread");
            Check(manual.DispatchEvents() == 0, "queue drained");
        }

        // ---- SynchronizationContext delivery ----
        var loop = new LoopContext();
        using (var posted = Engine.Open(Config(dir, 2), EventDelivery.SynchronizationContext, loop))
        {
            var seen = 0;
            posted.EventReceived += (sender, e) => seen++;
            posted.Generate(Request);
            Thread.Sleep(100);
            Check(seen == 0, "nothing raised before the loop runs");
            var drained = loop.Drain();
            Check(drained >= 4 && seen == drained, "raised through the context: " + drained);
        }

        // ---- PruneJobs, on an engine of its own so that the count is exact ----
        var pruneDir = TempDir();
        try
        {
            using (var pruning = Engine.Open(Config(pruneDir, 1)))
            {
                var finished = pruning.Wait(pruning.Submit(Request));
                Thread.Sleep(10); // finished_at counts milliseconds
                Check(pruning.PruneJobs(TimeSpan.FromHours(1)) == 0, "PruneJobs: nothing an hour old");
                Check(pruning.PruneJobs(TimeSpan.Zero) == 1, "PruneJobs: the finished job");
                Throws(() => pruning.GetJob(finished.Id), "not_found", null, "a pruned job is gone");
                Check(pruning.GetAsset(finished.AssetIds[0]).Id == finished.AssetIds[0], "its asset stays");
                Check(pruning.PruneJobs(TimeSpan.Zero) == 0, "PruneJobs: nothing left");
                try { pruning.PruneJobs(TimeSpan.FromSeconds(-1)); Check(false, "PruneJobs negative"); }
                catch (ArgumentOutOfRangeException) { Check(true, "PruneJobs negative"); }
            }
        }
        finally
        {
            try { Directory.Delete(pruneDir, true); } catch (Exception) { }
        }

        // ---- a pending task fails when its engine closes ----
        var idle = Engine.Open(Config(dir, 0));
        var pending = idle.GenerateAsync(Request);
        Check(!pending.IsCompleted, "pending without workers");
        idle.Dispose();
        var closedError = TaskError(pending);
        Check(closedError != null && closedError.Code == "invalid_request" && closedError.Message.Contains("closed"),
            "pending task fails on close");
    }
}
