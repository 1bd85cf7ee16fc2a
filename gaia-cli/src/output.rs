//! Printing: text for people, the wire format's JSON for scripts (`--json`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use gaia::{
    Asset, Budget, CostReport, Error, InsertedAsset, Job, JobStats, Lineage, LogLine, Media, Page,
    ProviderInfo, ScoredAsset, UsageSummary,
};
use serde::Serialize;

/// Where results go.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error[internal]: cannot print JSON: {e}"),
        }
    }

    /// Every failure: the stable code and the message on stderr.
    pub fn error(&self, error: &Error) {
        if self.json {
            let body = serde_json::json!({ "error": error.to_job_error() });
            eprintln!("{body}");
        } else {
            eprintln!("error[{}]: {error}", error.code());
        }
    }

    pub fn note(&self, text: &str) {
        if !self.json {
            eprintln!("{text}");
        }
    }

    /// A deletion: `{"deleted": id, "type": …}` in JSON.
    pub fn deleted(&self, what: &str, id: &str) {
        if self.json {
            return self.print_json(&serde_json::json!({ "deleted": id, "type": what }));
        }
        println!("deleted {what} {id}");
    }

    /// A prune: `{"pruned": N}` in JSON.
    pub fn pruned(&self, count: u64) {
        if self.json {
            return self.print_json(&serde_json::json!({ "pruned": count }));
        }
        println!("pruned {count} finished jobs");
    }

    /// A download URL: `{"url": …, "expires_at": …}` in JSON, the URL alone in text.
    pub fn download_url(&self, url: &str, expires_at: gaia::Timestamp) {
        if self.json {
            return self.print_json(&serde_json::json!({ "url": url, "expires_at": expires_at }));
        }
        println!("{url}");
    }

    pub fn job(&self, job: &Job) {
        if self.json {
            return self.print_json(job);
        }
        println!("{}", job_line(job));
    }

    pub fn job_detail(&self, job: &Job, logs: &[LogLine]) {
        if self.json {
            return self.print_json(&serde_json::json!({ "job": job, "logs": logs }));
        }
        println!("job       {}", job.id);
        println!("status    {} ({}%)", job.status, job.progress.value());
        println!(
            "kind      {}  prompt {:?}",
            job.request.spec.kind(),
            job.request.spec.prompt()
        );
        println!("attempts  {} of {}", job.attempts, job.max_attempts);
        if let (Some(provider), Some(model)) = (&job.provider, &job.model) {
            println!("provider  {provider} / {model}");
        }
        println!("cost      {}", job.cost_micros);
        match job.reused_from {
            Some(reused) => println!("reused    assets of job {reused}"),
            None if job.reused => println!("reused    existing assets"),
            None => {}
        }
        for id in &job.asset_ids {
            println!("asset     {id}");
        }
        if let Some(error) = &job.error {
            println!("error     [{}] {}", error.code, error.message);
        }
        for line in logs {
            self.log_line(line);
        }
    }

    pub fn log_line(&self, line: &LogLine) {
        if !self.json {
            println!("  {} {:5} {}", line.at, line.level.as_str(), line.message);
        }
    }

    /// A job's state as `jobs watch` follows it: one compact JSON object
    /// per line (JSON Lines) with `--json`.
    pub fn watch_line(&self, job: &Job) {
        if self.json {
            match serde_json::to_string(job) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error[internal]: cannot print JSON: {e}"),
            }
            return;
        }
        println!(
            "{} {:9} {:>3}% attempt {}",
            job.id,
            job.status.as_str(),
            job.progress.value(),
            job.attempts
        );
    }

    pub fn jobs(&self, page: &Page<Job>) {
        if self.json {
            return self.print_json(page);
        }
        for job in &page.items {
            println!("{}", job_line(job));
        }
        print_cursor(page);
    }

    pub fn stats(&self, stats: &JobStats) {
        if self.json {
            return self.print_json(stats);
        }
        for count in &stats.by_status {
            println!("{:10} {}", count.status.as_str(), count.count);
        }
        for p in &stats.by_provider {
            let ms = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{v} ms"));
            println!(
                "{:12} finished {} failed {} ({:.1}%) p50 {} p95 {}",
                p.provider,
                p.finished,
                p.failed,
                p.failure_rate * 100.0,
                ms(p.p50_ms),
                ms(p.p95_ms)
            );
        }
    }

    pub fn generated(&self, job: &Job, written: &[(Asset, PathBuf)]) {
        if self.json {
            let assets: Vec<_> = written
                .iter()
                .map(|(asset, path)| serde_json::json!({ "asset": asset, "path": path }))
                .collect();
            return self.print_json(&serde_json::json!({ "job": job, "assets": assets }));
        }
        for (asset, path) in written {
            println!(
                "{}  {}  {}  {}",
                asset.id,
                path.display(),
                describe(&asset.media),
                asset.cost_micros
            );
        }
        println!("job {} cost {}", job.id, job.cost_micros);
    }

    pub fn asset(&self, asset: &Asset) {
        if self.json {
            return self.print_json(asset);
        }
        println!("asset     {}", asset.id);
        println!("type      {}", describe(&asset.media));
        println!("name      {}", asset.name.as_deref().unwrap_or("-"));
        println!(
            "size      {} bytes  sha256 {}",
            asset.size_bytes, asset.sha256
        );
        println!("cost      {}", asset.cost_micros);
        println!("created   {}", asset.created_at);
        match serde_json::to_string(&asset.source) {
            Ok(source) => println!("source    {source}"),
            Err(_) => println!("source    -"),
        }
        if !asset.tags.is_empty() {
            println!("tags      {}", asset.tags.join(", "));
        }
    }

    /// `assets show`: the asset, how it was used, and its family.
    pub fn asset_detail(&self, asset: &Asset, usage: &UsageSummary, lineage: &Lineage) {
        if self.json {
            // The asset's own fields stay at the top level (the Asset wire
            // type), with usage and lineage beside them.
            let mut value = serde_json::to_value(asset).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                let ids = |assets: &[Asset]| assets.iter().map(|a| a.id).collect::<Vec<_>>();
                object.insert("usage".into(), serde_json::json!(usage));
                object.insert(
                    "ancestors".into(),
                    serde_json::json!(ids(&lineage.ancestors)),
                );
                object.insert(
                    "descendants".into(),
                    serde_json::json!(ids(&lineage.descendants)),
                );
            }
            return self.print_json(&value);
        }
        self.asset(asset);
        let kinds: Vec<String> = usage
            .by_kind
            .iter()
            .map(|k| format!("{} {}", k.count, k.kind.as_str()))
            .collect();
        println!("used      {} times ({})", usage.total, kinds.join(", "));
        for client in &usage.by_client {
            println!(
                "          by {} {} times, last {}",
                client.client_id, client.count, client.last_used_at
            );
        }
        if usage.saved_micros.micros() > 0 {
            println!("saved     {} by reuse", usage.saved_micros);
        }
        if let Some(parent) = lineage.ancestors.first() {
            println!("parent    {}", parent.id);
        }
        for child in &lineage.descendants {
            println!("derived   {}  {}", child.id, source_operation(child));
        }
    }

    /// `assets import`.
    pub fn imported(&self, imported: &[InsertedAsset]) {
        if self.json {
            let items: Vec<_> = imported
                .iter()
                .map(|i| serde_json::json!({ "asset": i.asset, "existing": i.existing }))
                .collect();
            return self.print_json(&items);
        }
        for item in imported {
            let note = if item.existing {
                "  (already imported)"
            } else {
                ""
            };
            println!(
                "{}  {:28}  {}{note}",
                item.asset.id,
                describe(&item.asset.media),
                item.asset.name.as_deref().unwrap_or("-")
            );
        }
    }

    /// `assets search`.
    pub fn search_results(&self, results: &[ScoredAsset]) {
        if self.json {
            return self.print_json(results);
        }
        for hit in results {
            println!(
                "{:.3}  {}  {:28}  {}",
                hit.score,
                hit.asset.id,
                describe(&hit.asset.media),
                hit.asset.name.as_deref().unwrap_or("-")
            );
        }
    }

    /// `assets lineage`: ancestors from the root down, then descendants.
    pub fn lineage(&self, lineage: &Lineage) {
        if self.json {
            return self.print_json(lineage);
        }
        for ancestor in lineage.ancestors.iter().rev() {
            println!(
                "ancestor    {}  {}",
                ancestor.id,
                source_operation(ancestor)
            );
        }
        println!(
            "asset       {}  {}",
            lineage.asset.id,
            source_operation(&lineage.asset)
        );
        for child in &lineage.descendants {
            println!("descendant  {}  {}", child.id, source_operation(child));
        }
    }

    pub fn assets(&self, page: &Page<Asset>) {
        if self.json {
            return self.print_json(page);
        }
        for asset in &page.items {
            println!(
                "{}  {:28}  {:24}  {}",
                asset.id,
                describe(&asset.media),
                asset.name.as_deref().unwrap_or("-"),
                asset.cost_micros
            );
        }
        print_cursor(page);
    }

    pub fn exported(&self, asset: &Asset, path: &Path) {
        if self.json {
            return self.print_json(&serde_json::json!({ "asset_id": asset.id, "path": path }));
        }
        println!("{}  {}", asset.id, path.display());
    }

    pub fn costs(&self, report: &CostReport) {
        if self.json {
            return self.print_json(report);
        }
        for row in &report.groups {
            println!(
                "{:32} {:>14}  {} entries",
                row.key.as_deref().unwrap_or("-"),
                row.cost_micros.to_string(),
                row.entries
            );
        }
        println!(
            "{:32} {:>14}  {} entries",
            "total",
            report.total_micros.to_string(),
            report.entries
        );
        println!(
            "{:32} {:>14}",
            "saved by reuse",
            report.saved_micros.to_string()
        );
    }

    pub fn budgets(&self, budgets: &[Budget]) {
        if self.json {
            return self.print_json(budgets);
        }
        for b in budgets {
            println!(
                "{} {} {:5} limit {}",
                b.client_id,
                b.campaign_id.as_deref().unwrap_or("(all campaigns)"),
                b.period.as_str(),
                b.limit_micros
            );
        }
    }

    pub fn providers(&self, providers: &[ProviderInfo]) {
        if self.json {
            return self.print_json(providers);
        }
        for p in providers {
            println!("{} ({})", p.name, if p.remote { "remote" } else { "local" });
            for m in &p.models {
                let price = match &m.price {
                    gaia::PriceRule::Free => "free".to_owned(),
                    gaia::PriceRule::PerOutput { micros } => format!("{micros} per output"),
                    gaia::PriceRule::PerMillionUnits {
                        unit,
                        micros_per_million,
                    } => {
                        format!(
                            "{} per million {unit}",
                            gaia::Money::from_micros(*micros_per_million as i64)
                        )
                    }
                    gaia::PriceRule::Table { note } => note.clone(),
                };
                // A derived operation's model shows what it does: `upscale→image`.
                let makes = match &m.operation {
                    Some(operation) => format!("{operation}→{}", m.kind.as_str()),
                    None => m.kind.as_str().to_owned(),
                };
                println!("  {:28} {:18} {:28} {}", m.id, makes, price, m.description);
            }
        }
    }
}

/// `thumbnail of 0190…`, `uploaded` or `generated by openai`.
fn source_operation(asset: &Asset) -> String {
    match &asset.source {
        gaia::AssetSource::Derived {
            parent_id,
            operation,
        } => format!("{operation} of {parent_id}"),
        gaia::AssetSource::Uploaded => "uploaded".to_owned(),
        gaia::AssetSource::Generated { provider, .. } => format!("generated by {provider}"),
    }
}

fn job_line(job: &Job) -> String {
    let error = job
        .error
        .as_ref()
        .map(|e| format!("  [{}] {}", e.code, e.message))
        .unwrap_or_default();
    format!(
        "{}  {:9} {:>3}%  {:5}  {:32}  {}{error}",
        job.id,
        job.status.as_str(),
        job.progress.value(),
        job.request.spec.kind().as_str(),
        truncate(job.request.spec.prompt(), 32),
        job.cost_micros,
    )
}

fn print_cursor<T>(page: &Page<T>) {
    if let Some(cursor) = &page.next_cursor {
        println!("next page: --cursor {cursor}");
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn describe(media: &Media) -> String {
    match media {
        Media::Image {
            width,
            height,
            format,
            tileable,
        } => {
            format!(
                "image {width}x{height} {}{}",
                format.as_str(),
                if *tileable { " tileable" } else { "" }
            )
        }
        Media::Audio {
            duration_s,
            sample_rate,
            channels,
            format,
        } => {
            format!(
                "audio {duration_s:.2}s {sample_rate}Hz {channels}ch {}",
                format.as_str()
            )
        }
        Media::Video {
            width,
            height,
            duration_s,
            format,
        } => {
            format!(
                "video {width}x{height} {duration_s:.2}s {}",
                format.as_str()
            )
        }
        Media::Model {
            format,
            vertex_count,
            triangle_count,
        } => {
            format!(
                "model {} {vertex_count}v {triangle_count}t",
                format.as_str()
            )
        }
        Media::Document { format, page_count } => {
            format!("document {} {page_count}p", format.as_str())
        }
    }
}
