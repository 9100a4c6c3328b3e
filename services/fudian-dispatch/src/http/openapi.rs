//! `GET /v1/dispatch/openapi.json`: the hand-written OpenAPI 3.1 document of this API.

use axum::http::header;
use axum::response::IntoResponse;

const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;

    #[test]
    fn the_document_is_json_and_lists_every_route() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let paths = document["paths"].as_object().unwrap();
        for path in [
            "/v1/crews",
            "/v1/crews/{id}/position",
            "/v1/cells",
            "/v1/workorders",
            "/v1/workorders/{id}",
            "/v1/workorders/{id}/assign",
            "/v1/workorders/{id}/status",
            "/v1/board",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
    }
}
