// An asset as the wire format describes it: the common fields, the
// type-specific ones (null when the type has none), and the raw JSON.
using System.Collections.Generic;

namespace Gaia
{
    public sealed class Asset
    {
        public string Id { get; private set; }
        public string ClientId { get; private set; }
        public string CampaignId { get; private set; }
        /// <summary>"image", "audio", "video", "model" or "document".</summary>
        public string Type { get; private set; }
        public string Name { get; private set; }
        public string Mime { get; private set; }
        public long SizeBytes { get; private set; }
        public string Sha256 { get; private set; }
        public long CostMicros { get; private set; }
        public string Format { get; private set; }
        public int? Width { get; private set; }
        public int? Height { get; private set; }
        public bool? Tileable { get; private set; }
        public double? DurationS { get; private set; }
        /// <summary>The job that generated it (null for uploads).</summary>
        public string JobId { get; private set; }
        public string Provider { get; private set; }
        public string Prompt { get; private set; }
        public List<string> Tags { get; private set; }
        public string CreatedAt { get; private set; }
        /// <summary>The wire JSON, every field included.</summary>
        public string Json { get; private set; }

        public static Asset Parse(string json)
        {
            var o = Gaia.Json.ParseObject(json);
            var source = Gaia.Json.Object(o, "source") ?? new Dictionary<string, object>();
            var width = Gaia.Json.Long(o, "width");
            var height = Gaia.Json.Long(o, "height");
            return new Asset
            {
                Id = Gaia.Json.String(o, "id"),
                ClientId = Gaia.Json.String(o, "client_id"),
                CampaignId = Gaia.Json.String(o, "campaign_id"),
                Type = Gaia.Json.String(o, "type"),
                Name = Gaia.Json.String(o, "name"),
                Mime = Gaia.Json.String(o, "mime"),
                SizeBytes = Gaia.Json.Long(o, "size_bytes") ?? 0,
                Sha256 = Gaia.Json.String(o, "sha256"),
                CostMicros = Gaia.Json.Long(o, "cost_micros") ?? 0,
                Format = Gaia.Json.String(o, "format"),
                Width = width.HasValue ? (int?)width.Value : null,
                Height = height.HasValue ? (int?)height.Value : null,
                Tileable = Gaia.Json.Bool(o, "tileable"),
                DurationS = Gaia.Json.Double(o, "duration_s"),
                JobId = Gaia.Json.String(source, "job_id"),
                Provider = Gaia.Json.String(source, "provider"),
                Prompt = Gaia.Json.String(source, "prompt"),
                Tags = Gaia.Json.Strings(o, "tags"),
                CreatedAt = Gaia.Json.String(o, "created_at"),
                Json = json,
            };
        }
    }
}
