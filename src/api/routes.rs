//! The route table: every endpoint once, with the policy action that
//! decides it, the handler the router mounts and the handler's OpenAPI
//! operation. The router (`app`), the OpenAPI document's paths and the
//! policy's table test all read this one table, so they cannot disagree.
//!
//! Never holds behaviour: a row only names what serves a route.

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter, on};

use super::AppState;
use super::{audit, entities, handlers, objections, officers, plans, public, rule_versions, rules, runs, tokens};
use crate::ops::policy::Action;

/// One endpoint.
pub struct Route {
    /// GET, POST or DELETE.
    pub method: &'static str,
    pub path: &'static str,
    /// What the policy decides for this route.
    pub action: Action,
    /// The handler, as the router mounts it.
    pub(super) handler: fn() -> MethodRouter<Arc<AppState>>,
    /// Adds the handler's operation (from its `#[utoipa::path]`) and the
    /// schemas it names to a document.
    pub(super) doc: fn(&mut utoipa::openapi::OpenApi),
}

/// The operation of a `#[utoipa::path]` handler and the schemas it
/// names, added to a document (what `#[derive(OpenApi)]` does per path).
fn doc<P: utoipa::Path + utoipa::__dev::SchemaReferences>(api: &mut utoipa::openapi::OpenApi) {
    api.paths.merge(utoipa::openapi::path::Paths::builder().path_from::<P>().build());
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    api.components.get_or_insert_with(Default::default).schemas.extend(schemas);
}

macro_rules! route {
    ($method:ident, $path:literal, $action:ident, $handler:path, $doc:ty) => {
        Route {
            method: stringify!($method),
            path: $path,
            action: Action::$action,
            handler: || on(MethodFilter::$method, $handler),
            doc: doc::<$doc>,
        }
    };
}

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    route!(GET, "/health", ReadPublic, handlers::health, handlers::__path_health),
    route!(GET, "/openapi.json", ReadPublic, handlers::openapi_json, handlers::__path_openapi_json),
    route!(GET, "/tokens", ListTokens, tokens::list_tokens, tokens::__path_list_tokens),
    route!(POST, "/tokens", CreateToken, tokens::create_token, tokens::__path_create_token),
    route!(DELETE, "/tokens/{id}", RevokeToken, tokens::revoke_token, tokens::__path_revoke_token),
    route!(GET, "/rules", ReadRules, rules::list_rules, rules::__path_list_rules),
    route!(POST, "/rules", ChangeRules, rules::upload_rules, rules::__path_upload_rules),
    route!(GET, "/rules/{id}", ReadRules, rules::get_rules, rules::__path_get_rules),
    route!(POST, "/rules/{id}/activate", ChangeRules, rules::activate_rules, rules::__path_activate_rules),
    route!(POST, "/rules/{id}/diff", StartDiffJob, rules::diff_rules, rules::__path_diff_rules),
    route!(GET, "/jobs/{id}", ReadJob, rules::get_job, rules::__path_get_job),
    route!(GET, "/runs", ReadRuns, runs::list_runs, runs::__path_list_runs),
    route!(POST, "/runs", StartRun, runs::start_run, runs::__path_start_run),
    route!(GET, "/runs/{id}", ReadRuns, runs::get_run, runs::__path_get_run),
    route!(GET, "/runs/{id}/entities/{uscc}", ReadEntity, runs::run_entity, runs::__path_run_entity),
    route!(GET, "/plans", ReadPlan, plans::list_plans, plans::__path_list_plans),
    route!(POST, "/plans", CreatePlan, plans::create_plan, plans::__path_create_plan),
    route!(POST, "/plans/preview", CreatePlan, plans::preview_plan, plans::__path_preview_plan),
    route!(GET, "/plans/{id}", ReadPlan, plans::get_plan, plans::__path_get_plan),
    route!(POST, "/plans/{id}/reveal", RevealPlan, plans::reveal_plan, plans::__path_reveal_plan),
    route!(POST, "/plans/{id}/cancel", CancelPlan, plans::cancel_plan, plans::__path_cancel_plan),
    route!(GET, "/plans/{id}/visits", ReadVisits, plans::plan_visits, plans::__path_plan_visits),
    route!(GET, "/plans/{id}/bundle", ReadBundle, plans::plan_bundle, plans::__path_plan_bundle),
    route!(POST, "/plans/{id}/verify", VerifyPlan, plans::verify_plan, plans::__path_verify_plan),
    route!(POST, "/plans/{id}/publish", PublishPlan, plans::publish_plan, plans::__path_publish_plan),
    route!(
        GET,
        "/officers/me/assignments",
        ReadOwnAssignments,
        officers::my_assignments,
        officers::__path_my_assignments
    ),
    route!(
        POST,
        "/officers/me/assignments/{plan}/{visit}/result",
        SubmitResult,
        officers::submit_result,
        officers::__path_submit_result
    ),
    route!(GET, "/entities/{uscc}", ReadEntity, entities::entity_timeline, entities::__path_entity_timeline),
    route!(GET, "/public/plans", ReadPublic, public::public_plans, public::__path_public_plans),
    route!(GET, "/public/plans/{id}", ReadPublic, public::public_plan, public::__path_public_plan),
    route!(GET, "/public/key", ReadPublic, public::public_key, public::__path_public_key),
    route!(GET, "/public/checkpoint", ReadPublic, public::public_checkpoint, public::__path_public_checkpoint),
    route!(GET, "/audit", ReadAudit, audit::audit_log, audit::__path_audit_log),
    route!(GET, "/audit/verify", VerifyAudit, audit::audit_verify, audit::__path_audit_verify),
    route!(GET, "/objections", ReadObjections, objections::list_objections, objections::__path_list_objections),
    route!(POST, "/objections", FileObjection, objections::file_objection, objections::__path_file_objection),
    route!(GET, "/objections/{id}", ReadObjections, objections::get_objection, objections::__path_get_objection),
    route!(
        POST,
        "/objections/{id}/decide",
        DecideObjection,
        objections::decide_objection,
        objections::__path_decide_objection
    ),
    route!(GET, "/rules/schedule", ReadRules, rule_versions::rule_schedule, rule_versions::__path_rule_schedule),
    route!(
        POST,
        "/rules/{id}/schedule",
        ChangeRules,
        rule_versions::schedule_rules,
        rule_versions::__path_schedule_rules
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::openapi::HttpMethod;

    use super::*;

    /// Each row's OpenAPI operation is at the row's own path and method,
    /// and nowhere else: the document and the router cannot disagree.
    #[test]
    fn every_route_documents_itself_at_its_own_path_and_method() {
        for r in ROUTES {
            let mut api = utoipa::openapi::OpenApi::default();
            (r.doc)(&mut api);
            let paths: Vec<&String> = api.paths.paths.keys().collect();
            assert_eq!(paths, [r.path], "{} {}: the handler documents {paths:?}", r.method, r.path);
            let item = &api.paths.paths[r.path];
            let documented: Vec<&str> = [
                (item.get.is_some(), "GET"),
                (item.post.is_some(), "POST"),
                (item.put.is_some(), "PUT"),
                (item.delete.is_some(), "DELETE"),
                (item.patch.is_some(), "PATCH"),
            ]
            .into_iter()
            .filter_map(|(on, m)| on.then_some(m))
            .collect();
            assert_eq!(documented, [r.method], "{} {}: the handler documents {documented:?}", r.method, r.path);
            let method = match r.method {
                "GET" => HttpMethod::Get,
                "POST" => HttpMethod::Post,
                "DELETE" => HttpMethod::Delete,
                other => panic!("{other}: a method the table does not use"),
            };
            assert!(api.paths.get_path_operation(r.path, method).is_some());
        }
    }

    #[test]
    fn every_route_is_in_the_table_once() {
        let mut seen = BTreeSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{} {} twice", r.method, r.path);
        }
    }
}
