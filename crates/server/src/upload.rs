//! Item uploads: a JSON body, or `multipart/form-data` with the item as a JSON part named
//! `item` and its images as file parts.

use crate::error::ApiError;
use crate::extract::Body;
use crate::{AppState, MAX_BODY_BYTES};
use axum::extract::{FromRequest, Multipart, Request};
use breakwater_media::DecodeLimits;
use breakwater_pipeline::Media;
use serde_json::Value;

/// The most images with one item.
pub const MAX_IMAGES: usize = 10;

/// The item (or batch) as JSON, and the images uploaded with it, already hashed.
pub struct ItemUpload {
    pub body: Value,
    pub media: Media,
}

impl FromRequest<AppState> for ItemUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            // Plain JSON keeps the ordinary body limit; only uploads with images get more.
            let req =
                req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, MAX_BODY_BYTES)));
            let Body(body) = Body::<Value>::from_request(req, state).await?;
            return Ok(ItemUpload {
                body,
                media: Media::default(),
            });
        }
        let mut form = Multipart::from_request(req, state).await.map_err(|e| {
            ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        })?;
        let mut body = None;
        let mut images: Vec<(String, Vec<u8>)> = Vec::new();
        while let Some(field) = form.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if name == "item" {
                if body.is_some() {
                    return Err(ApiError::Unprocessable("more than one `item` part".into()));
                }
                let value = serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::BadRequest(format!("malformed JSON in the `item` part: {e}"))
                })?;
                body = Some(value);
            } else {
                if images.len() == MAX_IMAGES {
                    return Err(ApiError::Unprocessable(format!(
                        "at most {MAX_IMAGES} images per item"
                    )));
                }
                let label = file_name.unwrap_or_else(|| format!("{name}#{}", images.len() + 1));
                images.push((label, bytes.to_vec()));
            }
        }
        let body = body.ok_or_else(|| {
            ApiError::Unprocessable("the multipart body has no `item` part".into())
        })?;
        // Decoding is CPU work: keep it off the request threads.
        let media = tokio::task::spawn_blocking(move || {
            let limits = DecodeLimits::default();
            let mut media = Media::default();
            for (name, bytes) in &images {
                media.add(name, bytes, &limits);
            }
            media
        })
        .await
        .map_err(|e| ApiError::Internal(format!("hashing images failed: {e}")))?;
        Ok(ItemUpload { body, media })
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(crate::MAX_UPLOAD_BYTES)
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}
