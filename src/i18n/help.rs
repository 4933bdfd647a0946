//! The command line's help texts: what every command does and what every
//! argument means, in zh-CN and en. `cli::help` puts them into the clap
//! command tree before parsing, so `credo --help` speaks the chosen language.
//!
//! Keys: a command by its path (`credo draw create`); an argument by its
//! command's path, a colon and the argument's id (`credo draw create:ratio`),
//! or `*:id` for one meaning shared by every command (the global options,
//! `Inputs`, the shard options, clap's own `help` and `version`); `* help`
//! is clap's `help` subcommand wherever it appears. `cli::help`'s test walks
//! the whole tree and fails on a command or argument with no entry, and on
//! an entry nothing uses.
//!
//! Over 500 lines because it is a table: one entry per command and
//! argument, both languages side by side, so a reviewer reads them together.

use super::Lang;

/// (key, zh-CN, en).
pub const HELP: &[(&str, &str, &str)] = &[
    // Shared by every command.
    ("*:store", "内置存储（SQLite 文件；不存在则创建）。", "The embedded store (SQLite file; created if missing)."),
    (
        "*:threads",
        "工作线程数（默认：每核一个，主线程也参与它发起的并行工作）。结果与线程数无关。",
        "Worker threads (default: one per core, and the main thread takes part in the parallel work it starts). Results do not depend on it.",
    ),
    ("*:lang", "输出语言：zh-CN（默认，中文）或 en。", "Output language: zh-CN (default, 中文) or en."),
    ("*:help", "打印帮助", "Print help"),
    ("*:version", "打印版本", "Print version"),
    ("* help", "打印本帮助或给定子命令的帮助", "Print this message or the help of the given subcommand(s)"),
    ("*:data", "数据集目录。", "Dataset directory."),
    ("*:rules", "规则集目录（rules.toml 与脚本）。", "Rule set directory (rules.toml and scripts)."),
    ("*:as_of", "评价日期：结果以当日所知为准。", "The evaluation date: results are as known on this day."),
    (
        "*:shard_size",
        "每个分片的主体数：内存随分片而非数据集增长。",
        "Entities per shard: memory follows the shard, not the dataset.",
    ),
    (
        "*:spill_dir",
        "运行前后两半之间分片暂存的目录（默认：系统临时目录）。",
        "Where shards wait between the two halves of a run (default: the system's temporary directory).",
    ),
    (
        "*:max_memory",
        "本次运行可用的内存：auto（本机或容器当前可用的内存）、off（不检查），或如 4G 的大小。在读取数据集之前检查。",
        "The memory a run may use: auto (what the machine or its container has available), off, or a size such as 4G. Checked before the dataset is read.",
    ),
    // credo
    ("credo", "信用风险分级分类监管规则引擎", "Rules engine for differentiated credit supervision"),
    // credo datasets
    ("credo datasets", "生成、检查和汇总数据集。", "Generate, check and summarise datasets."),
    (
        "credo datasets generate",
        "生成逼真的合成数据集（同一种子结果相同）。",
        "Generate a realistic synthetic dataset (deterministic for a seed).",
    ),
    ("credo datasets generate:entities", "市场主体数量。", "Number of market entities."),
    (
        "credo datasets generate:seed",
        "随机种子：同一种子生成相同的文件。",
        "Random seed: the same seed gives the same files.",
    ),
    ("credo datasets generate:out", "输出目录。", "Output directory."),
    ("credo datasets generate:format", "csv 或 parquet。", "csv or parquet."),
    (
        "credo datasets generate:until",
        "数据的最后日期（不生成更晚的日期）。",
        "Last date of the data (nothing is dated later).",
    ),
    (
        "credo datasets generate:chunk",
        "每块生成和写入的主体数（限制内存）。",
        "Entities generated and written per chunk (bounds memory).",
    ),
    (
        "credo datasets check",
        "加载每个文件并报告每个问题（有问题则退出码为 1）。",
        "Load every file and report every problem (exit 1 if any).",
    ),
    ("credo datasets check:dir", "数据集目录。", "Dataset directory."),
    ("credo datasets check:all", "即使问题成千上万也逐条打印。", "Print every problem even when there are thousands."),
    (
        "credo datasets summary",
        "按城市、主体类型和行业门类打印计数。",
        "Print counts by city, entity type and industry section.",
    ),
    ("credo datasets summary:dir", "数据集目录。", "Dataset directory."),
    // credo classify
    (
        "credo classify",
        "按评价日期，用规则集对数据集中的每个主体分级分类。",
        "Classify every entity of a dataset with a rule set, as of a date.",
    ),
    (
        "credo classify:rule_version",
        "使用存储中的规则版本而不是 --rules：版本 id，或 in-force（--as-of 当日生效的版本，否则为启用的版本）。",
        "Use a rule version stored in the store instead of --rules: its id, or `in-force` (the version in force on --as-of, else the active one).",
    ),
    ("credo classify:out", "输出文件，.csv 或 .parquet。", "Output file, .csv or .parquet."),
    (
        "credo classify:explain",
        "汇总之后打印这么多个主体的分级说明。",
        "Print this many explained entities after the summary.",
    ),
    (
        "credo classify:interpreted",
        "每条规则都只用 Rhai 解释执行，不走编译后的快速路径（较慢，结果相同：用于核对快速路径）。",
        "Evaluate every rule in Rhai alone, without the compiled fast path (slower, same results: a cross-check of the fast path).",
    ),
    // credo rules
    ("credo rules", "检查、测试和比较规则集。", "Check, test and compare rule sets."),
    (
        "credo rules check",
        "编译并检查规则集（在探测主体上运行每个入口）。",
        "Compile and check a rule set (every entry point, on probe entities).",
    ),
    ("credo rules test", "运行规则集的测试（rules/tests/*.toml）。", "Run the rule set's tests (rules/tests/*.toml)."),
    ("credo rules test:verbose", "同时列出通过的用例。", "Also list passing cases."),
    (
        "credo rules diff",
        "规则变更的影响：等级迁移、预期检查次数的变化，以及发生迁移的样本主体及其前后说明。",
        "What a rule change does: tier migration, change in expected inspections, and sample entities that move, with both explanations.",
    ),
    ("credo rules diff:from", "原规则集目录。", "The rule set directory before the change."),
    ("credo rules diff:to", "新规则集目录。", "The rule set directory after the change."),
    ("credo rules diff:samples", "每个迁移单元列出的样本主体数。", "Sample entities listed per migration cell."),
    (
        "credo rules versions",
        "存储中的规则版本及其生效日期（计划中的变更）。",
        "Rule versions in the store, with effective dates (scheduled changes).",
    ),
    (
        "credo rules versions add",
        "把规则集目录存为一个版本；可同时安排生效期（自 --from 起，至 --until 前一日止），或设为启用版本（某日无计划版本时使用）。",
        "Store a rule set directory as a version; optionally schedule it (in force from --from, until the day before --until) or make it the active version (used when none is scheduled for a date).",
    ),
    ("credo rules versions add:from", "自该日起生效（如 2027-01-01）。", "In force from this day (e.g. 2027-01-01)."),
    ("credo rules versions add:until", "生效至该日的前一日。", "In force until the day before this one."),
    ("credo rules versions add:activate", "设为启用版本。", "Make it the active version."),
    ("credo rules versions schedule", "为已存储的版本安排生效期。", "Schedule a stored version."),
    ("credo rules versions schedule:id", "版本 id。", "The version's id."),
    ("credo rules versions schedule:from", "自该日起生效。", "In force from this day."),
    ("credo rules versions schedule:until", "生效至该日的前一日。", "In force until the day before this one."),
    (
        "credo rules versions list",
        "已存储的版本及其生效期，以及某日生效的是哪个版本。",
        "Stored versions with their effective periods, and which one is in force on a date.",
    ),
    (
        "credo rules versions list:on",
        "显示该日生效的版本（默认：今天）。",
        "Show the version in force on this day (default: today).",
    ),
    // credo entity, propagate, lists
    (
        "credo entity",
        "单个主体的信用随时间变化、记录和传导路径。",
        "One entity's credit over time, records and propagation paths.",
    ),
    (
        "credo entity show",
        "单个主体的等级变化、记录、容错期、免罚、承诺、信用修复、黑名单状态和传导路径。",
        "Tier over time, records, tolerance, exemptions, commitments, repairs, blacklist status and propagation paths of one entity.",
    ),
    ("credo entity show:uscc", "主体的统一社会信用代码。", "The entity's unified social credit code."),
    ("credo entity show:json", "打印 JSON 而不是文本。", "Print JSON instead of text."),
    (
        "credo propagate",
        "黑名单经人员传导至其关联的其他主体。",
        "Blacklist propagation to persons and their other entities.",
    ),
    (
        "credo propagate:out",
        ".json（全部内容）或 .csv（每个被标记人员或波及主体一行）。",
        ".json (everything) or .csv (one row per flagged person or reached entity).",
    ),
    (
        "credo lists",
        "重点关注名单和黑名单（按部门的风险提示）。",
        "The key-attention list and the blacklist (risk warnings per department).",
    ),
    (
        "credo lists:kind",
        "名单：key-attention（重点关注）或 blacklist（黑名单）。",
        "The list: key-attention or blacklist.",
    ),
    (
        "credo lists:department",
        "只列出有该部门检查事项的主体（该部门的风险提示）。",
        "Only entities with inspection items of this department (its risk warning).",
    ),
    // credo objection
    (
        "credo objection",
        "对记录的异议申诉：提起、处理、列出。",
        "Objections to records (异议申诉): file, decide, list.",
    ),
    (
        "credo objection file",
        "对主体的某条记录提起异议申诉：异议未处理期间，规则将该记录视为有争议。",
        "File an objection to one of an entity's records: while it is open the rules see the record as disputed (提起异议申诉).",
    ),
    ("credo objection file:uscc", "主体的统一社会信用代码。", "The entity's credit code."),
    (
        "credo objection file:record",
        "有争议记录的编号（决定书文号、名录、投诉、承诺或检查编号）。",
        "The disputed record's id (decision number, listing, complaint, commitment or inspection id).",
    ),
    ("credo objection file:reason", "提出异议的理由。", "Why the record is disputed."),
    (
        "credo objection file:filed_on",
        "记录自何日起有争议（默认：今天，北京时间）。",
        "From when the record is disputed (default: today, China time).",
    ),
    ("credo objection file:data", "记录所在的数据集。", "The dataset the record is in."),
    (
        "credo objection decide",
        "支持或驳回未处理的异议，并说明理由（异议处理）。",
        "Uphold or reject an open objection, with a reason (异议处理).",
    ),
    ("credo objection decide:id", "异议的 id。", "The objection's id."),
    (
        "credo objection decide:outcome",
        "处理结果：upheld（支持）或 rejected（驳回）。",
        "The outcome: upheld or rejected.",
    ),
    ("credo objection decide:reason", "处理理由。", "Why it was decided so."),
    ("credo objection decide:decided_on", "处理日期（默认：今天，北京时间）。", "Default: today, China time."),
    ("credo objection list", "列出异议，按时间先后。", "List objections, oldest first."),
    ("credo objection list:uscc", "只列出该主体的异议。", "Only this entity's."),
    ("credo objection list:status", "只列出该状态的异议。", "Only those in this status."),
    ("credo objection list:json", "打印 JSON 而不是文本。", "Print JSON instead of text."),
    // credo draw
    ("credo draw", "检查计划与可复现的双随机抽取。", "Inspection plans and reproducible double-random draws."),
    (
        "credo draw create",
        "创建计划：分级分类、冻结抽查框、记录承诺值。",
        "Create a plan: classify, freeze the frame, record the commitment.",
    ),
    (
        "credo draw create:departments",
        "参与部门，以逗号分隔（多个部门即联合抽查）。",
        "Participating departments, comma-separated (a joint plan if several).",
    ),
    ("credo draw create:name", "计划名称。", "The plan's name."),
    (
        "credo draw create:kind",
        "计划类型：random（随机抽查）或 commitment-check（承诺核查）。",
        "The plan's kind: random or commitment-check.",
    ),
    (
        "credo draw create:mode",
        "抽取方式：概率或配额；随机抽查默认概率，承诺核查默认配额。",
        "Defaults to probability for random plans, quota for commitment checks.",
    ),
    (
        "credo draw create:ratio",
        "每个层的配额比例（配额方式）；默认取自规则集。",
        "Quota share of each stratum (quota mode); defaults from the rule set.",
    ),
    (
        "credo draw create:release_at",
        "检查人员何时可以看到任务（RFC 3339）。",
        "When officers may see their assignments (RFC 3339).",
    ),
    (
        "credo draw create:beacon_source",
        "事先指定、与秘密值组合的公开随机源（谁在何处发布什么），如 \"中国福利彩票 3D 第 2026185 期, cwl.gov.cn\"。不指定则计划明确不使用随机信标。",
        "The public randomness to combine with the secret, named in advance (who publishes what, where), e.g. \"China Welfare Lottery 3D draw 2026185, cwl.gov.cn\". Without it the plan explicitly has no beacon.",
    ),
    (
        "credo draw create:beacon_rule",
        "发布值如何变为信标字节：text（按发布原文）、digits（其十进制数字）或 hex。",
        "How the published value becomes beacon bytes: text (as published), digits (its decimal digits) or hex.",
    ),
    (
        "credo draw create:beacon_published_at",
        "信标值的发布时间（RFC 3339），须晚于现在。",
        "When the beacon value will be published (RFC 3339); after now.",
    ),
    (
        "credo draw create:commitment",
        "承诺你自己的秘密值：给出 SHA-256(秘密值) 的十六进制。不给出则由 credo 生成秘密值并只显示一次。",
        "Commit to your own secret: give SHA-256(secret) as hex. Without it credo generates a secret and shows it once.",
    ),
    (
        "credo draw reveal",
        "公开秘密值并抽取（仅一次）：先抽主体，再抽检查人员。",
        "Reveal the secret and draw (once): entities, then officers.",
    ),
    ("credo draw reveal:plan", "计划 id。", "The plan's id."),
    (
        "credo draw reveal:secret",
        "计划所承诺的、其 SHA-256 的秘密值（十六进制）。",
        "The secret (hex) whose SHA-256 the plan committed to.",
    ),
    (
        "credo draw reveal:beacon",
        "信标值，与来源发布的完全一致（由计划的规则转为字节）；计划未指定信标时省略。旧版 credo（credo-draw-v1）创建的计划：十六进制字节。",
        "The beacon value exactly as its source published it (the plan's rule makes bytes of it); omit it for a plan that names no beacon. For a plan made by an older credo (credo-draw-v1): hex bytes.",
    ),
    ("credo draw reveal:data", "数据集，用于任务中的主体名称。", "Dataset, for entity names on visits."),
    (
        "credo draw cancel",
        "取消尚未抽取的计划（记入审计；重抽可见）。",
        "Cancel a plan that has not been drawn (audited; re-rolling shows).",
    ),
    ("credo draw cancel:plan", "计划 id。", "The plan's id."),
    ("credo draw cancel:reason", "取消理由。", "Why the plan is cancelled."),
    ("credo draw list", "列出计划。", "List plans."),
    (
        "credo draw show",
        "计划、其抽查框计数、抽取结果和审计记录。",
        "A plan, its frame counts, its draw and its audit trail.",
    ),
    ("credo draw show:plan", "计划 id。", "The plan's id."),
    ("credo draw show:visits", "列出的检查任务数。", "Visits to list."),
    (
        "credo draw export",
        "写出审计人员无需 credo 即可核验的自包含数据包。",
        "Write the self-contained bundle an auditor checks without credo.",
    ),
    ("credo draw export:plan", "计划 id。", "The plan's id."),
    ("credo draw export:out", "输出文件。", "Output file."),
    (
        "credo draw verify",
        "重新推导抽取（依据数据包文件或已存储的计划）：\"identical\" 或第一处差异。",
        "Re-derive a draw (from a bundle file or a stored plan): \"identical\" or the first difference.",
    ),
    ("credo draw verify:bundle", "数据包文件。", "A bundle file."),
    ("credo draw verify:plan", "已存储的计划。", "A stored plan."),
    (
        "credo draw verify:public_key",
        "签发存储的公钥（十六进制，或存放公钥的文件）：数据包须带有该密钥的有效签名。",
        "The issuing store's public key (hex, or a file holding it): the bundle must carry a valid signature of this key.",
    ),
    (
        "credo draw verify:beacon_value",
        "你在计划信标来源处读到的信标值：数据包须恰好以此值抽取。",
        "The beacon value you read at the plan's beacon source: the bundle must have been drawn with exactly this value.",
    ),
    (
        "credo draw verify:disclosure",
        "计划的公开信息（已签名的 JSON）：其签名、计划 id、承诺值和抽查框哈希须与数据包一致。",
        "The plan's public disclosure (signed JSON): its signature, plan id, commitment and frame hash must match the bundle.",
    ),
    (
        "credo draw result",
        "为一次检查任务记录检查结果（检查人员的报告）。",
        "Record an inspection result for a visit (what an officer reports).",
    ),
    ("credo draw result:plan", "计划 id。", "The plan's id."),
    ("credo draw result:visit", "计划内的任务编号。", "Visit number within the plan."),
    ("credo draw result:officer", "检查人员编号。", "The officer's id."),
    ("credo draw result:department", "检查人员所属部门。", "The officer's department."),
    (
        "credo draw result:result",
        "compliant（未发现问题）、issues_corrected（已整改）、violation（违法）或 not_found（查无下落）。",
        "compliant, issues_corrected, violation or not_found.",
    ),
    (
        "credo draw result:commitment",
        "承诺核查：fulfilled（已履行）或 breached（未履行）。只结清本部门的承诺；未履行时撤销其替代的审批事项。",
        "For commitment checks: fulfilled or breached. Settles only this department's commitments; a breach revokes the approvals they stood in for.",
    ),
    ("credo draw result:date", "检查日期。", "The inspection date."),
    ("credo draw result:notes", "备注。", "Notes."),
    (
        "credo draw result:data",
        "其检查人员名册载明该检查人员部门的数据集，未履行的承诺核查也从中读取主体的承诺（须为计划所用的数据集；默认：存储导入的数据集）。",
        "The dataset whose officer roster names the officer's department, and whose commitments a breached commitment check settles (the plan's dataset; default: the dataset the store imported).",
    ),
    (
        "credo draw publish",
        "写出公开信息（不含个人信息）：计划，以及发布后的检查结果。",
        "Write the public disclosure (no personal data): the plan, and its results once released.",
    ),
    ("credo draw publish:plan", "计划 id。", "The plan's id."),
    ("credo draw publish:out", "输出文件。", "Output file."),
    // credo serve, tokens
    (
        "credo serve",
        "运行 HTTP API（首次启动：导入样例数据、分级分类、打印一个监管人员令牌）。",
        "Run the HTTP API (first start: imports the sample, classifies, prints a regulator token).",
    ),
    ("credo serve:data_dir", "存储所在目录（首次启动时创建）。", "Where the store lives (created on first start)."),
    ("credo serve:listen", "监听地址。", "The address to listen on."),
    ("credo serve:dataset", "首次启动时导入并分级分类的数据集。", "Dataset imported and classified on first start."),
    ("credo serve:rules", "首次启动时存储并启用的规则集。", "Rule set stored and activated on first start."),
    (
        "credo serve:as_of",
        "首次分级分类的评价日期（默认：数据集的最后日期）。",
        "As-of date of the first classification (default: the dataset's last date).",
    ),
    // credo plan
    ("credo plan", "计划提交前的准备：人员配备预览。", "Before a plan is committed: its staffing preview."),
    (
        "credo plan preview",
        "按县 × 部门列出草拟计划的预计检查次数，对照在岗且具备资格的检查人员及其上限；标出无法配备人员之处（退出码 1）。不创建计划。",
        "Expected visits per county × department against active qualified officers and their caps; flags what cannot be staffed (exit 1). Creates no plan.",
    ),
    (
        "credo plan preview:departments",
        "参与部门，以逗号分隔（多个部门即联合抽查）。",
        "Participating departments, comma-separated (a joint plan if several).",
    ),
    ("credo plan preview:name", "计划名称。", "The plan's name."),
    (
        "credo plan preview:kind",
        "计划类型：random（随机抽查）或 commitment-check（承诺核查）。",
        "The plan's kind: random or commitment-check.",
    ),
    (
        "credo plan preview:mode",
        "抽取方式：概率或配额；随机抽查默认概率，承诺核查默认配额。",
        "Defaults to probability for random plans, quota for commitment checks.",
    ),
    (
        "credo plan preview:ratio",
        "每个层的配额比例（配额方式）；默认取自规则集。",
        "Quota share of each stratum (quota mode); defaults from the rule set.",
    ),
    (
        "credo plan preview:release_at",
        "计划将有的发布时间（RFC 3339；此处可选，不影响抽查框）。",
        "The release time the plan will have (RFC 3339; optional here: it does not change the frame).",
    ),
    (
        "credo plan preview:json",
        "以 JSON 打印预览（机器代码，不含本地化文字）。",
        "Print the preview as JSON (machine codes, no localised words).",
    ),
    ("credo tokens", "HTTP API 的访问令牌。", "Access tokens for the HTTP API."),
    (
        "credo tokens create",
        "创建访问令牌（只打印一次；只存储其哈希）。检查人员须在存储数据集的名册上。",
        "Create an access token (printed once; only its hash is stored). Officers must be on the roster of the store's dataset.",
    ),
    (
        "credo tokens create:role",
        "regulator（监管人员）、auditor（审计人员）、officer（检查人员）或 agent（主体代理人）。",
        "regulator, auditor, officer or agent (an entity's agent).",
    ),
    (
        "credo tokens create:officer_id",
        "检查人员编号（检查人员令牌必填）。",
        "The officer's id (required for an officer token).",
    ),
    (
        "credo tokens create:jurisdiction",
        "省（370000）、市或县（区）代码（监管和审计人员；检查人员的辖区取自名册）。",
        "Province (370000), city or county code (regulators and auditors; officers serve the region on the roster).",
    ),
    ("credo tokens create:label", "标签。", "A label."),
    (
        "credo tokens create:expires_in_days",
        "有效天数（默认：检查人员 90 天，其他 365 天）。",
        "Lifetime in days (default: 90 for officers, 365 otherwise).",
    ),
    (
        "credo tokens create:uscc",
        "代理人令牌所代表主体的统一社会信用代码（代理人令牌必填）。",
        "The credit code of the entity an agent token acts for (required for an agent token).",
    ),
    (
        "credo tokens create:principal",
        "为该已有主体 id 再签发一个令牌。",
        "Another token for this existing principal id.",
    ),
    (
        "credo tokens list",
        "列出令牌：id、主体、到期和吊销情况（从不显示密钥）。",
        "List tokens: id, principal, expiry and revocation (never secrets).",
    ),
    (
        "credo tokens revoke",
        "按 id 吊销令牌：自下一个请求起拒绝。",
        "Revoke a token by id: refused from the next request on.",
    ),
    ("credo tokens revoke:id", "令牌 id。", "The token's id."),
    // credo audit
    (
        "credo audit",
        "核验存储：审计日志、数据表、结果文件；检查点和存储的密钥。",
        "Verify the store: audit log, tables, results files; checkpoints and the store's key.",
    ),
    (
        "credo audit verify",
        "沿哈希链核验，依据审计载荷重建运行、计划、任务和结果并与数据表比对，核验每个结果文件；带 --checkpoint 时还能发现截断和改写。",
        "Walk the hash chain, rebuild runs, plans, visits and results from the audit payloads and compare them with the tables, check every results file; with --checkpoint, also detect truncation and rewrites.",
    ),
    (
        "credo audit verify:checkpoint",
        "此前发布的已签名检查点（credo audit checkpoint，GET /public/checkpoint）。",
        "A signed checkpoint published earlier (`credo audit checkpoint`, GET /public/checkpoint).",
    ),
    (
        "credo audit verify:public_key",
        "检查点须由其签名的公钥（十六进制或文件）；默认为存储自己的密钥。",
        "The key the checkpoint must be signed with (hex or a file); defaults to the store's own key.",
    ),
    (
        "credo audit checkpoint",
        "写出审计日志头部的已签名检查点（请公开发布）。",
        "Write the signed checkpoint of the audit log's head (publish it).",
    ),
    ("credo audit checkpoint:out", "写入该文件而不是标准输出。", "Write to this file instead of standard output."),
    (
        "credo audit key",
        "存储的 id 和公钥（审计人员用以核验签名）。",
        "The store's id and public key (what auditors check signatures with).",
    ),
    (
        "credo audit log",
        "列出审计记录（可只列一个对象的，如 plan/3）。",
        "List audit entries (optionally for one subject, e.g. plan/3).",
    ),
    ("credo audit log:subject", "只列出该对象的记录，如 plan/3。", "Only this subject's entries, e.g. plan/3."),
];

/// The help text under `key`, in `lang`.
pub fn help(key: &str, lang: Lang) -> Option<&'static str> {
    HELP.iter().find(|(k, _, _)| *k == key).map(|&(_, zh, en)| match lang {
        Lang::Zh => zh,
        Lang::En => en,
    })
}

/// clap's own words around the help texts, in `lang`.
pub struct Headings {
    pub usage: &'static str,
    pub commands: &'static str,
    pub arguments: &'static str,
    pub options: &'static str,
}

pub fn headings(lang: Lang) -> Headings {
    match lang {
        Lang::Zh => Headings { usage: "用法：", commands: "命令", arguments: "参数", options: "选项" },
        Lang::En => Headings { usage: "Usage:", commands: "Commands", arguments: "Arguments", options: "Options" },
    }
}
