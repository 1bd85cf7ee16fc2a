//! Documents: pdf (page count from the page tree), json and plain text.
//! glTF JSON is recognised here too, since it has no binary signature.

use std::io::{Read, Seek, SeekFrom};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Source;
use crate::asset::{DocumentFormat, Media};
use crate::error::{Error, Result};

/// The PDF specification puts `%%EOF` within the last 1,024 bytes.
const PDF_TAIL: u64 = 1024;
/// Text is checked in chunks of this size, so any file size is fine.
const TEXT_CHUNK: usize = 64 * 1024;

/// Checks that the PDF ends properly and that its page tree loads, and
/// counts its pages.
pub fn inspect_pdf(source: Source<'_>) -> Result<Media> {
    check_pdf_end(source)?;
    // lopdf holds the whole document: PDFs are read whole by design (their
    // cross-reference table sits at the end).
    let document = match source {
        Source::File(path) => lopdf::Document::load(path),
        Source::Memory(bytes) => lopdf::Document::load_mem(bytes),
    }
    .map_err(|e| Error::InvalidOutput(format!("pdf document does not parse: {e}")))?;
    let pages = document.get_pages().len();
    if pages == 0 {
        return Err(Error::InvalidOutput("pdf document has no pages".into()));
    }
    Ok(Media::Document {
        format: DocumentFormat::Pdf,
        page_count: u32::try_from(pages).unwrap_or(u32::MAX),
    })
}

/// A cut PDF loses its trailer, which lopdf may otherwise try to rebuild.
fn check_pdf_end(source: Source<'_>) -> Result<()> {
    let mut file = source.open("the pdf")?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::End(0))
        .and_then(|len| file.seek(SeekFrom::Start(len.saturating_sub(PDF_TAIL))))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| super::read_error("the pdf", e))?;
    if tail.windows(5).any(|w| w == b"%%EOF") {
        Ok(())
    } else {
        Err(Error::InvalidOutput(
            "pdf document is truncated: it has no %%EOF end marker".into(),
        ))
    }
}

/// A file with no binary signature: glTF JSON, JSON, or UTF-8 text. Anything
/// else (a NUL byte, invalid UTF-8) is not a format Gaia reads.
pub fn inspect_text(source: Source<'_>) -> Result<Media> {
    check_utf8_text(source)?;
    let Some(probe) = parse_json(source) else {
        return Ok(Media::Document {
            format: DocumentFormat::Txt,
            page_count: 1,
        });
    };
    if probe.asset.and_then(|a| a.version).is_some() {
        return super::model::inspect_gltf_json(source);
    }
    Ok(Media::Document {
        format: DocumentFormat::Json,
        page_count: 1,
    })
}

/// Streams the file through a UTF-8 check, refusing NUL bytes (the mark of
/// binary data, which valid UTF-8 alone does not exclude).
fn check_utf8_text(source: Source<'_>) -> Result<()> {
    let mut reader = source.open("the file")?;
    let mut buffer = vec![0u8; TEXT_CHUNK];
    // Bytes of a character split across two chunks wait for the next one.
    let mut carried = 0usize;
    loop {
        let read = reader
            .read(&mut buffer[carried..])
            .map_err(|e| super::read_error("the file", e))?;
        let filled = carried + read;
        let chunk = &buffer[..filled];
        if chunk.contains(&0) {
            return Err(not_a_format("it contains NUL bytes"));
        }
        carried = match std::str::from_utf8(chunk) {
            Ok(_) => 0,
            Err(e) if e.error_len().is_none() && read > 0 => filled - e.valid_up_to(),
            Err(_) => return Err(not_a_format("it is not UTF-8 text")),
        };
        if read == 0 {
            return Ok(());
        }
        buffer.copy_within(filled - carried..filled, 0);
    }
}

fn not_a_format(why: &str) -> Error {
    Error::InvalidOutput(format!(
        "not a format Gaia reads (image, audio, model, video or document): {why}"
    ))
}

/// Only what tells glTF JSON from other JSON; every other field is skipped.
#[derive(Deserialize)]
struct JsonProbe {
    #[serde(default)]
    asset: Option<AssetProbe>,
}

#[derive(Deserialize)]
struct AssetProbe {
    #[serde(default)]
    version: Option<IgnoredAny>,
}

/// `Some` when the file is one JSON value (streamed, never held as a tree);
/// `asset.version` is filled for a top-level object that has it.
fn parse_json(source: Source<'_>) -> Option<JsonProbe> {
    let reader = || source.open("the file").ok();
    serde_json::from_reader::<_, IgnoredAny>(reader()?).ok()?;
    let probe = serde_json::from_reader::<_, JsonProbe>(reader()?).ok();
    Some(probe.unwrap_or(JsonProbe { asset: None }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::super::test_files::*;
    use super::*;

    /// A PDF of `pages` empty pages, written as text with a correct
    /// cross-reference table.
    pub fn pdf(pages: usize) -> Vec<u8> {
        let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 3)).collect();
        let mut objects = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {pages} >>",
                kids.join(" ")
            ),
        ];
        for _ in 0..pages {
            objects.push("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_owned());
        }
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn document(format: DocumentFormat, page_count: u32) -> Media {
        Media::Document { format, page_count }
    }

    #[test]
    fn counts_pdf_pages() {
        assert_eq!(
            detect_bytes(&pdf(2)).unwrap(),
            document(DocumentFormat::Pdf, 2)
        );
        assert_eq!(
            detect_bytes(&pdf(5)).unwrap(),
            document(DocumentFormat::Pdf, 5)
        );
    }

    #[test]
    fn truncated_pdf_fails_naming_the_missing_end() {
        let message = failure(detect_bytes(&truncated(&pdf(3), 0.8)));
        assert!(
            message.contains("pdf") && message.contains("truncated"),
            "{message}"
        );
    }

    #[test]
    fn a_pdf_header_on_junk_fails() {
        let message = failure(detect_bytes(b"%PDF-1.4\nnothing here\n%%EOF\n"));
        assert!(message.contains("pdf"), "{message}");
    }

    #[test]
    fn json_and_text_are_one_page_documents() {
        let json = br#"{"name": "crate", "tags": ["wood", 1, null]}"#;
        assert_eq!(
            detect_bytes(json).unwrap(),
            document(DocumentFormat::Json, 1)
        );
        assert_eq!(
            detect_bytes(b"[1, 2, 3]").unwrap(),
            document(DocumentFormat::Json, 1)
        );
        let text = "Quest log: find the crystal — \u{1f48e} — then rest.\n";
        assert_eq!(
            detect_bytes(text.as_bytes()).unwrap(),
            document(DocumentFormat::Txt, 1)
        );
    }

    #[test]
    fn broken_json_is_plain_text() {
        assert_eq!(
            detect_bytes(br#"{"name": "crate""#).unwrap(),
            document(DocumentFormat::Txt, 1)
        );
    }

    #[test]
    fn long_text_with_characters_across_chunks_is_text() {
        let text = "é".repeat(TEXT_CHUNK);
        assert_eq!(
            detect_bytes(text.as_bytes()).unwrap(),
            document(DocumentFormat::Txt, 1)
        );
    }

    #[test]
    fn binary_junk_is_not_text() {
        let message = failure(detect_bytes(b"hello\0world"));
        assert!(message.contains("NUL"), "{message}");
        let message = failure(detect_bytes(&[b'a', 0xc3, 0x28, b'b']));
        assert!(message.contains("UTF-8"), "{message}");
        let message = failure(detect_bytes(&[b'a', b'b', 0xe2, 0x82]));
        assert!(message.contains("UTF-8"), "{message}");
    }
}
