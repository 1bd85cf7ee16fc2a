// A job and an event as the wire format describes them.
using System;
using System.Collections.Generic;

namespace Gaia
{
    public sealed class Job
    {
        public string Id { get; private set; }
        /// <summary>"queued", "running", "succeeded", "failed" or "canceled".</summary>
        public string Status { get; private set; }
        /// <summary>0-100.</summary>
        public int Progress { get; private set; }
        public int Attempts { get; private set; }
        public string Provider { get; private set; }
        public string Model { get; private set; }
        public List<string> AssetIds { get; private set; }
        public long CostMicros { get; private set; }
        /// <summary>The error's stable code when the job failed, else null.</summary>
        public string ErrorCode { get; private set; }
        public string ErrorMessage { get; private set; }
        public string Json { get; private set; }

        public bool IsFinished
        {
            get { return Status == "succeeded" || Status == "failed" || Status == "canceled"; }
        }

        public static Job Parse(string json)
        {
            var o = Gaia.Json.ParseObject(json);
            var error = Gaia.Json.Object(o, "error");
            return new Job
            {
                Id = Gaia.Json.String(o, "id"),
                Status = Gaia.Json.String(o, "status"),
                Progress = (int)(Gaia.Json.Long(o, "progress") ?? 0),
                Attempts = (int)(Gaia.Json.Long(o, "attempts") ?? 0),
                Provider = Gaia.Json.String(o, "provider"),
                Model = Gaia.Json.String(o, "model"),
                AssetIds = Gaia.Json.Strings(o, "asset_ids"),
                CostMicros = Gaia.Json.Long(o, "cost_micros") ?? 0,
                ErrorCode = error == null ? null : Gaia.Json.String(error, "code"),
                ErrorMessage = error == null ? null : Gaia.Json.String(error, "message"),
                Json = json,
            };
        }
    }

    /// <summary>One engine event ("job_queued", "job_progress", "job_succeeded", ...).</summary>
    public sealed class GaiaEvent : EventArgs
    {
        public long Seq { get; private set; }
        public string Type { get; private set; }
        /// <summary>The job it is about, or null.</summary>
        public string JobId { get; private set; }
        public string At { get; private set; }
        /// <summary>Every field of the event.</summary>
        public Dictionary<string, object> Fields { get; private set; }
        public string Json { get; private set; }

        public static GaiaEvent Parse(string json)
        {
            var o = Gaia.Json.ParseObject(json);
            return new GaiaEvent
            {
                Seq = Gaia.Json.Long(o, "seq") ?? 0,
                Type = Gaia.Json.String(o, "type"),
                JobId = Gaia.Json.String(o, "job_id"),
                At = Gaia.Json.String(o, "at"),
                Fields = o,
                Json = json,
            };
        }
    }
}
