//! `credo serve` and `credo tokens create`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, Outcome};
use crate::api::{self, ServeOptions};
use crate::model::Date;
use crate::store::Store;

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
    Create {
        /// regulator, auditor or officer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        officer_id: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
}

pub fn serve(a: ServeArgs) -> Result<Outcome, CliError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let opts =
        ServeOptions { data_dir: a.data_dir, listen: a.listen, dataset: a.dataset, rules: a.rules, as_of: a.as_of };
    eprintln!("preparing {} ...", opts.data_dir.display());
    let (state, token) = api::prepare(&opts).map_err(CliError)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .map_err(|e| CliError(format!("cannot listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr()?;
        println!(
            "credo listening on http://{addr} (data in {}, dataset {})",
            opts.data_dir.display(),
            state.dataset.hash
        );
        println!("OpenAPI document: http://{addr}/openapi.json");
        if let Some(t) = token {
            println!("regulator token (shown once, keep it): {t}");
        }
        axum::serve(listener, api::app(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CliError(e.to_string()))
    })?;
    Ok(Outcome::Ok)
}

pub fn tokens(cmd: TokensCommand, store: &std::path::Path) -> Result<Outcome, CliError> {
    let store = Store::open(store)?;
    match cmd {
        TokensCommand::Create { role, officer_id, label } => {
            let t = store.create_token(&role, officer_id.as_deref(), &label, "cli")?;
            println!("{t}");
            Ok(Outcome::Ok)
        }
    }
}
