//! `credo objection file | decide | list`: objections to records (异议申诉),
//! filed and decided by the store's operator (a province-level regulator).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use super::{CliError, Outcome};
use crate::i18n::{Lang, objection_status_name};
use crate::model::Date;
use crate::model::access::Principal;
use crate::model::objection::{ObjectionOutcome, ObjectionStatus};
use crate::ops;
use crate::store::{ObjectionRecord, Store};

#[derive(Subcommand)]
pub enum ObjectionCommand {
    /// File an objection to one of an entity's records: while it is open
    /// the rules see the record as disputed (提起异议申诉).
    File {
        /// The entity's credit code.
        uscc: String,
        /// The disputed record's id (decision number, listing, complaint,
        /// commitment or inspection id).
        #[arg(long)]
        record: String,
        /// Why the record is disputed.
        #[arg(long)]
        reason: String,
        /// From when the record is disputed (default: today, China time).
        #[arg(long)]
        filed_on: Option<Date>,
        /// The dataset the record is in.
        #[arg(long)]
        data: PathBuf,
    },
    /// Uphold or reject an open objection, with a reason (异议处理).
    Decide {
        /// The objection's id.
        id: i64,
        #[arg(long, value_enum)]
        outcome: Decision,
        #[arg(long)]
        reason: String,
        /// Default: today, China time.
        #[arg(long)]
        decided_on: Option<Date>,
    },
    /// List objections, oldest first.
    List {
        /// Only this entity's.
        #[arg(long)]
        uscc: Option<String>,
        /// Only those in this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What a regulator decided.
#[derive(Clone, Copy, ValueEnum)]
pub enum Decision {
    // Upheld: the record stands corrected; rejected: the record stands
    // (the help catalogue, `i18n::help`, says so in both languages).
    Upheld,
    Rejected,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Status {
    Open,
    Upheld,
    Rejected,
}

fn print_one(o: &ObjectionRecord, lang: Lang) {
    println!(
        "{:>4}  {}  {}  {:<24} {:<10} {}  {}",
        o.id,
        o.filed_on,
        o.uscc,
        o.record_id,
        objection_status_name(o.status, lang),
        o.filed_by,
        o.reason
    );
    if let (Some(on), Some(by)) = (&o.decided_on, &o.decided_by) {
        let reason = o.decision_reason.as_deref().unwrap_or("");
        say!(lang, "      {on}  {by} 处理意见：{reason}", "      {on}  {by}: {reason}");
    }
}

pub fn run(cmd: ObjectionCommand, store: &Path, lang: Lang) -> Result<Outcome, CliError> {
    let operator = Principal::operator("cli");
    let today = ops::limits::today();
    match cmd {
        ObjectionCommand::File { uscc, record, reason, filed_on, data } => {
            let mut loaded = crate::data::load(&data)?;
            let store = Store::open(store)?;
            ops::add_submitted(&store, &mut loaded.snapshot)?;
            let req = ops::objections::FileObjection { uscc: &uscc, record_id: &record, reason: &reason, filed_on };
            let o = ops::objections::file_objection(&store, &loaded.snapshot, &operator, &req, today)?;
            print_one(&o, lang);
        }
        ObjectionCommand::Decide { id, outcome, reason, decided_on } => {
            let store = Store::open(store)?;
            let outcome = match outcome {
                Decision::Upheld => ObjectionOutcome::Upheld,
                Decision::Rejected => ObjectionOutcome::Rejected,
            };
            let req = ops::objections::DecideObjection { id, outcome, reason: &reason, decided_on };
            let o = ops::objections::decide_objection(&store, &operator, &req, today)?;
            print_one(&o, lang);
        }
        ObjectionCommand::List { uscc, status, json } => {
            let store = Store::open(store)?;
            let status = status.map(|s| match s {
                Status::Open => ObjectionStatus::Open,
                Status::Upheld => ObjectionStatus::Upheld,
                Status::Rejected => ObjectionStatus::Rejected,
            });
            let list = ops::objections::list_objections(&store, &operator, uscc.as_deref(), status)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for o in &list {
                    print_one(o, lang);
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
