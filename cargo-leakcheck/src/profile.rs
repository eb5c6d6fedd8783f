//! `cargo leakcheck profile top FILE` and `cargo leakcheck profile diff BASE HEAD`: the call
//! sites of heap profiles (pprof `profile.proto`, gzipped or not, as the monitor serves and
//! stores them, or as any pprof tool writes them), so that a user without Go can answer "what
//! grew between these two snapshots".
//!
//! Sites are found and fingerprinted as the test harness attributes leaks
//! ([`leakcheck_probe::pprof::sites`]). Both commands exit 0 when they could read the files and
//! 2 ([`CliError`]) when not: a profile diff is a question, not a check (a heap that grew
//! between two snapshots is not by itself a regression; `cargo leakcheck diff` and the monitor's
//! detector decide that).

pub mod render;

use crate::diff::Format;
use crate::{shown, CliError, LeakcheckExitCode};
use leakcheck_probe::pprof::{self, sites, Profile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the `--format json` output of `profile top` and `profile diff`.
pub const PROFILE_SCHEMA_VERSION: u32 = 1;

/// Sites shown when `--limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;

/// Profile commands.
#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// Lists the call sites of a heap profile, largest first (flat and cum, as `pprof -top`).
    Top(TopArgs),
    /// Compares two profiles of the same service: each call site's change, largest growth
    /// first.
    Diff(ProfileDiffArgs),
}

/// Arguments of `profile top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The profile: a profile.proto file, gzipped or not (e.g. a saved /debug/pprof/heap).
    pub file: PathBuf,
    /// Options shared with `profile diff`.
    #[command(flatten)]
    pub options: Options,
}

/// Arguments of `profile diff`.
#[derive(Debug, clap::Args)]
pub struct ProfileDiffArgs {
    /// The earlier profile.
    pub base: PathBuf,
    /// The later profile.
    pub head: PathBuf,
    /// Options shared with `profile top`.
    #[command(flatten)]
    pub options: Options,
}

/// What to rank by and how to print.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// The sample type to rank by, e.g. inuse_space, inuse_objects, alloc_space,
    /// alloc_objects. Default: the profile's default (inuse_space for heap profiles).
    #[arg(long, value_name = "TYPE")]
    pub sample_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How many sites to show (0: all).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
}

/// One call site in the outputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SiteInfo {
    /// The innermost user function.
    pub function: String,
    /// Its file, when the profile has it.
    pub file: Option<String>,
    /// Its line, when the profile has it.
    pub line: Option<u32>,
    /// The site's fingerprint, the same as in leak test reports.
    pub fingerprint: String,
    /// False when the stack held no user code (the site is then the first frame past the
    /// allocator, or an address).
    pub user: bool,
}

impl SiteInfo {
    fn of(site: &sites::Site) -> Self {
        SiteInfo {
            function: site.frame.function.clone(),
            file: site.frame.file.clone(),
            line: site.frame.line,
            fingerprint: site.fingerprint.clone(),
            user: site.user,
        }
    }
}

/// The `profile top` output (`--format json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopReport {
    /// [`PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The file, as given.
    pub file: String,
    /// The sample type ranked by.
    pub sample_type: String,
    /// Its unit, e.g. `bytes`, `count`.
    pub unit: String,
    /// The sum over all samples.
    pub total: i64,
    /// How many sites the profile has (more than `sites` holds when `--limit` cut it).
    pub site_count: usize,
    /// The sites shown, largest flat value first.
    pub sites: Vec<TopRow>,
}

/// One row of [`TopReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopRow {
    /// The site.
    #[serde(flatten)]
    pub site: SiteInfo,
    /// The value of the samples whose site this is.
    pub flat: i64,
    /// The value of the samples that pass through the site's function.
    pub cum: i64,
    /// Samples behind `flat`: a site of few samples is a rough estimate.
    pub samples: usize,
}

/// The `profile diff` output (`--format json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiffReport {
    /// [`PROFILE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The base file, as given.
    pub base: String,
    /// The head file, as given.
    pub head: String,
    /// The sample type compared.
    pub sample_type: String,
    /// Its unit.
    pub unit: String,
    /// BASE's total.
    pub base_total: i64,
    /// HEAD's total.
    pub head_total: i64,
    /// HEAD's time minus BASE's in seconds, when both profiles carry a time.
    pub seconds_between: Option<f64>,
    /// How many sites changed (more than `sites` holds when `--limit` cut it).
    pub site_count: usize,
    /// The sites that changed, largest growth first, largest shrinkage last.
    pub sites: Vec<DiffRow>,
}

/// One row of [`DiffReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiffRow {
    /// The site.
    #[serde(flatten)]
    pub site: SiteInfo,
    /// Its value in BASE.
    pub base: i64,
    /// Its value in HEAD.
    pub head: i64,
    /// `head - base`.
    pub delta: i64,
    /// Samples behind it in BASE.
    pub base_samples: usize,
    /// Samples behind it in HEAD.
    pub head_samples: usize,
}

/// Runs a profile command.
pub fn run(command: &ProfileCommand) -> Result<i32, CliError> {
    let text = match command {
        ProfileCommand::Top(args) => {
            render_top(&top(&args.file, &args.options)?, args.options.format)
        }
        ProfileCommand::Diff(args) => render_diff(
            &diff(&args.base, &args.head, &args.options)?,
            args.options.format,
        ),
    };
    print!("{text}");
    Ok(LeakcheckExitCode::OK)
}

fn render_top(report: &TopReport, format: Format) -> String {
    match format {
        Format::Text => render::top_text(report),
        Format::Markdown => render::top_markdown(report),
        Format::Json => render::json(report),
    }
}

fn render_diff(report: &DiffReport, format: Format) -> String {
    match format {
        Format::Text => render::diff_text(report),
        Format::Markdown => render::diff_markdown(report),
        Format::Json => render::json(report),
    }
}

/// `profile top FILE`: reads the profile and ranks its sites.
pub fn top(file: &Path, options: &Options) -> Result<TopReport, CliError> {
    let profile = load(file)?;
    let index = sample_index(file, &profile, options.sample_type.as_deref())?;
    let top = sites::top(&profile, index);
    let site_count = top.sites.len();
    Ok(TopReport {
        schema_version: PROFILE_SCHEMA_VERSION,
        file: shown(file),
        sample_type: top.sample_type,
        unit: top.unit,
        total: top.total,
        site_count,
        sites: limited(top.sites, options.limit)
            .map(|s| TopRow {
                site: SiteInfo::of(&s.site),
                flat: s.flat,
                cum: s.cum,
                samples: s.samples,
            })
            .collect(),
    })
}

/// `profile diff BASE HEAD`: reads both profiles and compares their sites.
pub fn diff(base: &Path, head: &Path, options: &Options) -> Result<DiffReport, CliError> {
    let (before, after) = (load(base)?, load(head)?);
    let head_index = sample_index(head, &after, options.sample_type.as_deref())?;
    // BASE is read in HEAD's sample type, wherever it sits in BASE.
    let kind = after.sample_types[head_index].kind.clone();
    let base_index = sample_index(base, &before, Some(&kind))?;
    let d = sites::diff(&before, base_index, &after, head_index);
    let seconds_between = (before.time_nanos != 0 && after.time_nanos != 0)
        .then(|| (after.time_nanos - before.time_nanos) as f64 / 1e9);
    let site_count = d.sites.len();
    Ok(DiffReport {
        schema_version: PROFILE_SCHEMA_VERSION,
        base: shown(base),
        head: shown(head),
        sample_type: d.sample_type,
        unit: d.unit,
        base_total: d.base_total,
        head_total: d.head_total,
        seconds_between,
        site_count,
        sites: limited(d.sites, options.limit)
            .map(|c| DiffRow {
                site: SiteInfo::of(&c.site),
                base: c.base,
                head: c.head,
                delta: c.delta,
                base_samples: c.base_samples,
                head_samples: c.head_samples,
            })
            .collect(),
    })
}

fn limited<T>(rows: Vec<T>, limit: usize) -> impl Iterator<Item = T> {
    let n = if limit == 0 { rows.len() } else { limit };
    rows.into_iter().take(n)
}

/// Reads and decodes a profile file.
fn load(path: &Path) -> Result<Profile, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })?;
    pprof::decode(&bytes).map_err(|source| CliError::Profile {
        path: path.to_owned(),
        source,
    })
}

/// The index of sample type `asked` (the profile's default when `None`).
fn sample_index(path: &Path, profile: &Profile, asked: Option<&str>) -> Result<usize, CliError> {
    let index = match asked {
        Some(kind) => profile.sample_index(kind),
        None => profile.default_index(),
    };
    index.ok_or_else(|| CliError::SampleType {
        path: path.to_owned(),
        asked: asked.map(str::to_owned),
        available: profile
            .sample_types
            .iter()
            .map(|t| t.kind.clone())
            .collect(),
    })
}
