//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;

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
    info(title = "credo", description = "Differentiated credit supervision: rules, classification, reproducible double-random draws"),
    paths(
        handlers::health, handlers::openapi_json, handlers::create_token, handlers::list_tokens, handlers::revoke_token,
        handlers::list_rules, handlers::get_rules, handlers::upload_rules, handlers::activate_rules, handlers::diff_rules, handlers::get_job,
        handlers::start_run, handlers::list_runs, handlers::get_run, handlers::run_entity,
        handlers::create_plan, handlers::list_plans, handlers::get_plan, handlers::reveal_plan, handlers::cancel_plan,
        handlers::plan_visits, handlers::plan_bundle, handlers::verify_plan, handlers::publish_plan,
        handlers::my_assignments, handlers::submit_result, handlers::entity_timeline,
        handlers::public_plans, handlers::public_plan, handlers::public_key, handlers::public_checkpoint,
        handlers::audit_log, handlers::audit_verify,
        super::objections::list_objections, super::objections::file_objection, super::objections::get_objection,
        super::objections::decide_objection, super::rule_versions::schedule_rules, super::rule_versions::rule_schedule,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&BearerAuth, &CommonErrors)
)]
pub struct ApiDoc;

/// The document as JSON text.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
