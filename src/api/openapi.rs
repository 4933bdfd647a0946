//! The OpenAPI document: its paths from the route table (`routes::ROUTES`,
//! which the router mounts too), each operation from its handler's
//! annotation, then the errors every operation can answer.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Documents the errors every operation can answer, in the one shape all
/// errors have, so the document matches what the server really returns.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let error = |why: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(why)
                    .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops =
                [item.get.as_mut(), item.post.as_mut(), item.put.as_mut(), item.delete.as_mut(), item.patch.as_mut()];
            for op in ops.into_iter().flatten() {
                let secured = op.security.is_some();
                let r = &mut op.responses.responses;
                let has_body = op.request_body.is_some();
                let has_params = path.contains('{') || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut add = |code: &str, why: &str| {
                    r.entry(code.to_string()).or_insert_with(|| error(why));
                };
                if has_body || has_params {
                    add("400", "Malformed request: JSON syntax, path or query parameter");
                }
                if secured {
                    add("401", "Missing or unknown token");
                    add("403", "The token's role may not do this");
                }
                if has_params || (secured && has_body) {
                    add("404", "No such object");
                }
                if has_body {
                    add("413", "Body larger than the limit");
                    add("415", "Body is not application/json");
                    add("422", "Body is well-formed JSON but not a valid request");
                }
                if secured && (has_body || has_params) {
                    add("409", "Conflicts with the object's state");
                    add("422", "The request cannot be carried out as given");
                }
                add("408", "The request took longer than the server allows");
                // Dataset-wide work waits in a bounded queue.
                if ["/runs", "/plans", "/rules/{id}/diff", "/entities/{uscc}", "/objections"].contains(&path.as_str())
                    && (has_body || path.starts_with("/entities"))
                {
                    add("429", "Too many dataset-wide tasks are waiting; try again when one has finished");
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "credo",
        description = "Differentiated credit supervision: rules, classification, reproducible double-random draws"
    ),
    components(schemas(super::error::ErrorBody))
)]
pub struct ApiDoc;

/// The document: every route of the table with its operation and schemas,
/// the bearer scheme, and the common errors.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = ApiDoc::openapi();
    for r in super::routes::ROUTES {
        (r.doc)(&mut api);
    }
    for m in [&BearerAuth as &dyn Modify, &CommonErrors] {
        m.modify(&mut api);
    }
    api
}

/// The document as JSON text.
pub fn document() -> String {
    openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
