//! Multipart parsing for [`Parsers`](super::Parsers): the `multer` crate splits the
//! parts; file parts are streamed to temporary files (the `tempfile` crate) that are
//! removed when the request ends.

use std::sync::Arc;

use http::StatusCode;
use http_body_util::BodyDataStream;
use tokio::io::AsyncWriteExt;

use super::params::{Param, Upload};
use super::parsers::{BodyParams, MultipartLimits, ParseRejection};
use crate::conn::Conn;

/// Keeps the request's temporary upload files alive; dropping it deletes them.
struct UploadGuard(#[allow(dead_code)] Vec<tempfile::TempPath>);

fn io_error(message: String) -> ParseRejection {
    ParseRejection::Io { status: StatusCode::INTERNAL_SERVER_ERROR, message }
}

fn multer_error(err: multer::Error, limits: &MultipartLimits) -> ParseRejection {
    match err {
        multer::Error::StreamSizeExceeded { .. } => ParseRejection::TooLarge { kind: "multipart", limit: limits.total },
        multer::Error::StreamReadFailed(e) => {
            let message = e.to_string();
            if message.contains("larger than the limit") || e.is::<http_body_util::LengthLimitError>() {
                ParseRejection::TooLarge { kind: "multipart", limit: limits.total }
            } else {
                ParseRejection::Io { status: StatusCode::BAD_REQUEST, message }
            }
        }
        other => ParseRejection::InvalidMultipart(other.to_string()),
    }
}

pub(crate) async fn parse_multipart(
    conn: &mut Conn,
    content_type: &str,
    limits: MultipartLimits,
) -> Result<BodyParams, ParseRejection> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ParseRejection::InvalidMultipart(format!("{e} (in `Content-Type: {content_type}`)")))?;
    let body = conn.take_body().unwrap_or_default();
    let stream = BodyDataStream::new(http_body_util::Limited::new(body, limits.total));
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limits.total as u64));
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);

    let mut root = Param::new_map();
    let mut temp_files = Vec::new();
    let result: Result<(), ParseRejection> = async {
        while let Some(mut field) = multipart.next_field().await.map_err(|e| multer_error(e, &limits))? {
            let name = field
                .name()
                .map(str::to_owned)
                .ok_or_else(|| ParseRejection::InvalidMultipart("a part has no `name` in its Content-Disposition".into()))?;
            let value = if let Some(filename) = field.file_name().map(str::to_owned) {
                let content_type = field.content_type().map(|m| m.to_string());
                let mut builder = tempfile::Builder::new();
                builder.prefix("zzz-upload-");
                let created = match &limits.dir {
                    Some(dir) => builder.tempfile_in(dir),
                    None => builder.tempfile(),
                };
                let named = created
                    .map_err(|e| io_error(format!("could not create a temporary file for field \"{name}\": {e}")))?;
                let std_file = named
                    .reopen()
                    .map_err(|e| io_error(format!("could not open the temporary file for field \"{name}\": {e}")))?;
                let path = named.into_temp_path();
                let saved_at = path.to_path_buf();
                temp_files.push(path);
                let mut file = tokio::fs::File::from_std(std_file);
                let mut size: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(|e| multer_error(e, &limits))? {
                    size += chunk.len() as u64;
                    if size > limits.file as u64 {
                        return Err(ParseRejection::FileTooLarge { field: name, limit: limits.file });
                    }
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| io_error(format!("could not write the upload of field \"{name}\": {e}")))?;
                }
                file.flush().await.map_err(|e| io_error(format!("could not write the upload of field \"{name}\": {e}")))?;
                Param::File(Upload { filename, content_type, path: saved_at, size })
            } else {
                let bytes = field.bytes().await.map_err(|e| multer_error(e, &limits))?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| ParseRejection::InvalidMultipart(format!("field \"{name}\" is not valid UTF-8 text")))?;
                Param::Str(text)
            };
            root.insert_nested(&name, value).map_err(ParseRejection::InvalidMultipart)?;
        }
        Ok(())
    }
    .await;
    // On failure the files are dropped (deleted) here; on success they live until the
    // request ends.
    result?;
    if !temp_files.is_empty() {
        let guard = UploadGuard(temp_files);
        conn.register_before_send(move |_| drop(guard));
    }
    Ok(BodyParams::Form(Arc::new(root)))
}
