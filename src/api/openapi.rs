//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;

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
        handlers::health, handlers::openapi_json, handlers::create_token,
        handlers::list_rules, handlers::get_rules, handlers::upload_rules, handlers::activate_rules, handlers::diff_rules, handlers::get_job,
        handlers::start_run, handlers::list_runs, handlers::get_run, handlers::run_entity,
        handlers::create_plan, handlers::list_plans, handlers::get_plan, handlers::reveal_plan, handlers::cancel_plan,
        handlers::plan_visits, handlers::plan_bundle, handlers::verify_plan, handlers::publish_plan,
        handlers::my_assignments, handlers::submit_result, handlers::entity_timeline,
        handlers::public_plans, handlers::public_plan, handlers::audit_log, handlers::audit_verify,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The document as JSON text.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
