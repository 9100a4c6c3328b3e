//! `GET /v1/planned/openapi.json`: the hand-written OpenAPI 3.1 document of this API.

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
            "/v1/planned/jobs",
            "/v1/planned/jobs/{id}",
            "/v1/planned/jobs/{id}/assessment",
            "/v1/planned/jobs/{id}/assess",
            "/v1/planned/jobs/{id}/approve",
            "/v1/planned/jobs/{id}/reject",
            "/v1/planned/jobs/{id}/schedule",
            "/v1/planned/jobs/{id}/start",
            "/v1/planned/jobs/{id}/complete",
            "/v1/planned/jobs/{id}/cancel",
            "/v1/planned/bundles",
            "/v1/planned/schedule",
            "/v1/planned/budgets",
            "/v1/planned/reports/weekly",
            "/v1/planned/reliability",
            "/v1/planned/frequent-outages",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
    }
}
