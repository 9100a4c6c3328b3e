//! `GET /v1/outage/openapi.json`: the hand-written OpenAPI 3.1 document of this API.

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
            "/v1/incidents",
            "/v1/incidents/{id}",
            "/v1/incidents/{id}/customers",
            "/v1/customers/{id}/status",
            "/v1/switching",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
    }
}
