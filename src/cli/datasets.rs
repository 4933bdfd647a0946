//! `credo datasets generate | check | summary`.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{CliError, Outcome, progress_bar};
use crate::data::{self, Format, generate::GenerateOptions};
use crate::model::Date;

#[derive(Subcommand)]
pub enum DatasetsCommand {
    /// Generate a realistic synthetic dataset (deterministic for a seed).
    Generate(GenerateArgs),
    /// Load every file and report every problem (exit 1 if any).
    Check {
        dir: PathBuf,
        /// Print every problem even when there are thousands.
        #[arg(long)]
        all: bool,
    },
    /// Print counts by city, entity type and industry section.
    Summary { dir: PathBuf },
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Number of market entities.
    #[arg(long, default_value_t = 10_000)]
    entities: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// csv or parquet.
    #[arg(long, default_value = "csv", value_parser = parse_format)]
    format: Format,
    /// Last date of the data (nothing is dated later).
    #[arg(long, default_value_t = GenerateOptions::default_until())]
    until: Date,
    /// Entities generated and written per chunk (bounds memory).
    #[arg(long, default_value_t = 200_000)]
    chunk: u64,
}

/// A dataset format the generator does not write.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a format (csv or parquet)")]
struct UnknownFormat(String);

fn parse_format(s: &str) -> Result<Format, UnknownFormat> {
    match s {
        "csv" => Ok(Format::Csv),
        "parquet" => Ok(Format::Parquet),
        _ => Err(UnknownFormat(s.to_string())),
    }
}

pub fn run(cmd: DatasetsCommand, lang: crate::i18n::Lang) -> Result<Outcome, CliError> {
    match cmd {
        DatasetsCommand::Generate(a) => {
            let opts = GenerateOptions {
                entities: a.entities,
                seed: a.seed,
                out: a.out,
                format: a.format,
                until: a.until,
                chunk: a.chunk,
            };
            let started = Instant::now();
            let what = match lang {
                crate::i18n::Lang::Zh => "生成中",
                crate::i18n::Lang::En => "generating",
            };
            let pb = progress_bar(opts.entities, what);
            let summary = data::generate::generate(&opts, &|n| pb.set_position(n)).map_err(CliError::from)?;
            pb.finish_and_clear();
            let (out, secs) = (opts.out.display(), started.elapsed().as_secs_f64());
            say!(lang, "已写入 {out}，用时 {secs:.1} 秒", "wrote {out} in {secs:.1}s");
            for (table, n) in summary.rows {
                println!("  {table:<20} {n:>12}");
            }
            Ok(Outcome::Ok)
        }
        DatasetsCommand::Check { dir, all } => {
            let report = data::check(&dir, &|_| {});
            if !report.problems.is_empty() {
                println!("{}", report.problems.render_in(if all { usize::MAX } else { 100 }, lang));
                return Ok(Outcome::Findings);
            }
            // A table's time includes waiting for the builder to take its
            // batches (it is still busy with the table before): said apart,
            // so a small table after a large one does not look slow.
            for t in &report.rows {
                let (table, n, secs, waited) = (t.table, t.rows, t.secs, t.waited);
                say!(
                    lang,
                    "  {table:<20} {n:>12} 行 {secs:>8.2} 秒（其中等待整理 {waited:.2} 秒）",
                    "  {table:<20} {n:>12} rows {secs:>7.2}s ({waited:.2}s of it waiting for the builder)"
                );
            }
            let secs = report.references_secs;
            let name = crate::i18n::pad(if lang == crate::i18n::Lang::Zh { "引用关系" } else { "references" }, 20);
            say!(lang, "  {name} {:>12}    {secs:>8.2} 秒", "  {name} {:>12}      {secs:>7.2}s", "");
            say!(lang, "通过：{}（{}）", "ok: {} ({})", dir.display(), report.hash.unwrap_or_default());
            Ok(Outcome::Ok)
        }
        DatasetsCommand::Summary { dir } => {
            let loaded = data::load(&dir)?;
            print!("{}", data::summary::summarize(&loaded.snapshot).render(lang));
            say!(lang, "\n数据集哈希：{}", "\ndataset hash: {}", loaded.hash);
            Ok(Outcome::Ok)
        }
    }
}
