//! `credo serve` and `credo tokens create`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, Outcome};
use crate::api::{self, ServeOptions};
use crate::i18n::Lang;
use crate::model::Date;
use crate::model::access::{Principal, Role};
use crate::ops;
use crate::store::Store;
use crate::tr;

#[derive(Args)]
pub struct ServeArgs {
    /// Where the store lives (created on first start).
    #[arg(long, default_value = "credo-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Dataset imported and classified on first start.
    #[arg(long, default_value = "datasets/sample")]
    dataset: PathBuf,
    /// Rule set stored and activated on first start.
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    /// As-of date of the first classification (default: the dataset's last date).
    #[arg(long)]
    as_of: Option<Date>,
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create an access token (printed once; only its hash is stored).
    /// Officers must be on the roster of the store's dataset.
    Create {
        /// regulator, auditor, officer or agent.
        #[arg(long)]
        role: Role,
        /// Agents: the credit code of the entity they act for.
        #[arg(long)]
        uscc: Option<String>,
        #[arg(long)]
        officer_id: Option<String>,
        /// Province (370000), city or county code (regulators and
        /// auditors; officers serve the region on the roster).
        #[arg(long)]
        jurisdiction: Option<u32>,
        #[arg(long, default_value = "")]
        label: String,
        /// Lifetime in days (default: 90 for officers, 365 otherwise).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Another token for this existing principal id.
        #[arg(long)]
        principal: Option<i64>,
    },
    /// List tokens: id, principal, expiry and revocation (never secrets).
    List,
    /// Revoke a token by id: refused from the next request on.
    Revoke { id: i64 },
}

pub fn serve(a: ServeArgs, lang: Lang) -> Result<Outcome, CliError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let opts =
        ServeOptions { data_dir: a.data_dir, listen: a.listen, dataset: a.dataset, rules: a.rules, as_of: a.as_of };
    match lang {
        Lang::Zh => eprintln!("正在准备 {} ……", opts.data_dir.display()),
        Lang::En => eprintln!("preparing {} ...", opts.data_dir.display()),
    }
    let (state, token) = api::prepare(&opts).map_err(CliError::from)?;
    // Requests answer in milliseconds: none should wait for a huge page.
    let small = crate::ops::retain::small_pages();
    tracing::debug!(small, "memory in small pages");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .map_err(|e| CliError(tr!("无法在 {} 上监听：{e}", "cannot listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr()?;
        let (data, hash) = (opts.data_dir.display(), &state.dataset.hash);
        say!(
            lang,
            "credo 正在 http://{addr} 上监听（数据目录 {data}，数据集 {hash}）",
            "credo listening on http://{addr} (data in {data}, dataset {hash})"
        );
        say!(lang, "OpenAPI 文档：http://{addr}/openapi.json", "OpenAPI document: http://{addr}/openapi.json");
        say!(lang, "网页控制台：http://{addr}/", "web console: http://{addr}/");
        if let Some(t) = token {
            // The token is the last word of its line in both languages
            // (scripts take it with `awk '{print $NF}'`).
            say!(lang, "监管人员令牌（仅显示这一次，请妥善保存）：{t}", "regulator token (shown once, keep it): {t}");
            // The token rides in the fragment, which browsers never send:
            // it stays out of server and proxy logs.
            say!(
                lang,
                "打开已登录的控制台：http://{addr}/console/signin#token={t}",
                "open the console signed in: http://{addr}/console/signin#token={t}"
            );
        }
        let warming = state.clone();
        tokio::task::spawn_blocking(move || warming.warm());
        axum::serve(listener, api::app(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(CliError::from)
    })?;
    Ok(Outcome::Ok)
}

pub fn tokens(cmd: TokensCommand, store: &std::path::Path, lang: Lang) -> Result<Outcome, CliError> {
    let store = Store::open(store)?;
    // The CLI acts as the store's operator, through the same checks as
    // the API.
    let operator = Principal::operator("cli");
    match cmd {
        TokensCommand::Create { role, uscc, officer_id, jurisdiction, label, expires_in_days, principal } => {
            let t = if let Some(uscc) = uscc {
                let req = ops::access::AgentTokenRequest { role, uscc, label, expires_in_days };
                ops::access::create_agent_token(&store, &operator, &req)?
            } else {
                let roster = if role == Role::Officer { ops::access::store_roster(&store)? } else { Vec::new() };
                let req =
                    ops::access::TokenRequest { role, officer_id, jurisdiction, label, expires_in_days, principal };
                ops::access::create_token(&store, &roster, &operator, &req)?
            };
            let (id, actor, jurisdiction) = (t.id, t.principal.actor(), t.principal.jurisdiction);
            match lang {
                Lang::Zh => eprintln!(
                    "已为 {actor} 创建令牌 {id}（管辖区域 {jurisdiction}），到期：{}",
                    t.expires_at.as_deref().unwrap_or("永不")
                ),
                Lang::En => eprintln!(
                    "token {id} for {actor} (jurisdiction {jurisdiction}), expires {}",
                    t.expires_at.as_deref().unwrap_or("never")
                ),
            }
            println!("{}", t.token);
            Ok(Outcome::Ok)
        }
        TokensCommand::List => {
            for t in ops::access::list_tokens(&store, &operator)? {
                let state = match (&t.revoked_at, &t.expires_at, lang) {
                    (Some(r), _, Lang::Zh) => format!("已于 {r} 吊销"),
                    (Some(r), _, Lang::En) => format!("revoked {r}"),
                    (None, Some(e), Lang::Zh) => format!("{e} 到期"),
                    (None, Some(e), Lang::En) => format!("expires {e}"),
                    (None, None, Lang::Zh) => "长期有效".into(),
                    (None, None, Lang::En) => "no expiry".into(),
                };
                println!(
                    "{:>4}  {:<28} {:<8} {}  {}  {}",
                    t.id,
                    t.principal.actor(),
                    t.principal.jurisdiction,
                    t.label,
                    t.created_at,
                    state
                );
            }
            Ok(Outcome::Ok)
        }
        TokensCommand::Revoke { id } => {
            let t = ops::access::revoke_token(&store, &operator, id)?;
            let (actor, at) = (t.principal.actor(), t.revoked_at.unwrap_or_default());
            say!(lang, "{actor} 的令牌 {id} 已于 {at} 吊销", "token {id} of {actor} revoked at {at}");
            Ok(Outcome::Ok)
        }
    }
}
