//! Issue #13, item 1: the command line speaks zh-CN by default and English
//! with `--lang en` or `CREDO_LANG=en` — help, errors and dataset problems.

use crate::common::*;

#[test]
fn help_is_chinese_by_default_and_english_on_request() {
    let zh = stdout(&credo_default_lang(&["--help"]));
    for want in ["信用风险分级分类监管规则引擎", "用法：", "命令:", "选项:", "生成、检查和汇总数据集。", "打印帮助"]
    {
        assert!(zh.contains(want), "{want} missing from:\n{zh}");
    }
    assert!(!zh.contains("Print help") && !zh.contains("Options:"), "{zh}");

    let zh = stdout(&credo_default_lang(&["draw", "create", "--help"]));
    assert!(zh.contains("创建计划：分级分类、冻结抽查框、记录承诺值。"), "{zh}");
    assert!(zh.contains("参与部门，以逗号分隔") && zh.contains("数据集目录。"), "{zh}");

    let en = stdout(&credo_default_lang(&["draw", "create", "--help", "--lang", "en"]));
    assert!(en.contains("Create a plan: classify, freeze the frame, record the commitment."), "{en}");
    assert!(en.contains("Participating departments, comma-separated") && en.contains("Usage:"), "{en}");
    assert!(en.contains("Options:") && en.contains("Print help") && !en.contains("参与部门"), "{en}");

    // CREDO_LANG=en (what `credo` sets for the tests), and --lang wins over it.
    let en = stdout(&credo(&["objection", "--help"]));
    assert!(en.contains("Objections to records") && en.contains("Commands:"), "{en}");
    let zh = stdout(&credo(&["--lang", "zh-CN", "objection", "--help"]));
    assert!(zh.contains("对记录的异议申诉：提起、处理、列出。") && zh.contains("命令:"), "{zh}");
}

#[test]
fn errors_are_printed_in_the_chosen_language() {
    let s = StoreDir::new();
    let store = s.store();
    let zh = credo_default_lang(&["--store", &store, "draw", "show", "999"]);
    assert_eq!(zh.status.code(), Some(2));
    assert_eq!(stderr(&zh).trim(), "错误：未找到计划 999");
    let en = credo_default_lang(&["--store", &store, "--lang", "en", "draw", "show", "999"]);
    assert_eq!(en.status.code(), Some(2));
    assert_eq!(stderr(&en).trim(), "error: plan 999 not found");
}

#[test]
fn dataset_problems_are_reported_in_the_chosen_language() {
    let dir = copy_dir(&sample());
    let d = dir.path();
    // A corrupted credit code (one character changed) on data row 5, and a
    // missing required value on data row 2.
    edit_line(&d.join("entities.csv"), 6, |l| {
        let mut chars: Vec<char> = l.chars().collect();
        chars[10] = if chars[10] == '7' { '8' } else { '7' };
        chars.into_iter().collect()
    });
    let header = line(&d.join("entities.csv"), 1);
    let name = header.split(',').position(|c| c == "name").expect("a name column");
    edit_line(&d.join("entities.csv"), 3, |l| {
        let mut cells: Vec<&str> = l.split(',').collect();
        cells[name] = "";
        cells.join(",")
    });
    let zh = credo_default_lang(&["datasets", "check", d.to_str().unwrap()]);
    assert_eq!(zh.status.code(), Some(1));
    let zh = stdout(&zh);
    assert!(zh.contains("entities.csv 第 5 行（文本第 6 行） uscc 列：统一社会信用代码无效："), "{zh}");
    assert!(zh.contains("entities.csv 第 2 行（文本第 3 行） name 列：缺少必填值"), "{zh}");
    assert!(zh.trim_end().ends_with("个问题") && zh.trim_end().contains("\n共 "), "{zh}");

    let en = stdout(&credo(&["datasets", "check", d.to_str().unwrap()]));
    assert!(en.contains("entities.csv row 5 (line 6) column uscc: invalid credit code"), "{en}");
    assert!(en.contains("entities.csv row 2 (line 3) column name: required value is missing"), "{en}");
    assert!(en.trim_end().ends_with("problem(s)"), "{en}");
}

/// clap's parse errors: rendered in Chinese by default (exit 2, the usage
/// line kept), clap's own English with `--lang en`.
#[test]
fn parse_errors_are_chinese_by_default_and_clap_s_english_on_request() {
    let zh = credo_default_lang(&["draw", "create", "--nope"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(err.starts_with("错误：无法识别的参数 '--nope'"), "{err}");
    assert!(err.contains("\n\n用法： credo draw create ") && err.ends_with("更多信息请运行 '--help'。\n"), "{err}");
    let en = credo_default_lang(&["--lang", "en", "draw", "create", "--nope"]);
    assert_eq!(en.status.code(), Some(2));
    let err = stderr(&en);
    assert!(err.starts_with("error: unexpected argument '--nope' found"), "{err}");
    assert!(err.contains("Usage: credo draw create ") && !err.contains("用法"), "{err}");

    let zh = credo_default_lang(&["classify"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(err.starts_with("错误：缺少以下必需参数：\n  --data <DATA>"), "{err}");
    let err = stderr(&credo(&["classify"]));
    assert!(err.starts_with("error: the following required arguments were not provided:"), "{err}");

    let zh = credo_default_lang(&["drwa", "list"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(
        err.starts_with("错误：无法识别的子命令 'drwa'") && err.contains("提示：存在相近的子命令：'draw'"),
        "{err}"
    );

    // A value its parser refuses: the argument, the value and why.
    let zh = credo_default_lang(&["classify", "--data", "d", "--as-of", "2026-13-01", "--out", "x.csv"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(err.starts_with("错误：参数 '--as-of <AS_OF>' 的值 '2026-13-01' 无效：不是有效的日期"), "{err}");
    let zh = credo_default_lang(&["--lang", "fr", "draw", "list"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(err.starts_with("错误：参数 '--lang <LANG>' 的值 'fr' 无效：未知语言 'fr'"), "{err}");
    let en = credo(&["classify", "--data", "d", "--as-of", "2026-13-01", "--out", "x.csv"]);
    assert_eq!(en.status.code(), Some(2));
    let err = stderr(&en);
    assert!(err.starts_with("error: invalid value '2026-13-01' for '--as-of <AS_OF>': input is out of range"), "{err}");
    // A value outside a closed list names the possible values.
    let zh = credo_default_lang(&["draw", "create", "--mode", "fast"]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    assert!(err.starts_with("错误：参数 '--mode <MODE>' 的值 'fast' 无效\n  [可选值：probability、quota]"), "{err}");
}

/// What commands print on success, and the draw's and rule engine's
/// errors, speak the chosen language; hashes and ids keep their form.
#[test]
fn progress_and_summaries_are_chinese_by_default() {
    let s = StoreDir::new();
    let store = s.store();
    let (data, rules) = (sample(), root().join("rules"));
    let (data, rules) = (data.to_str().unwrap(), rules.to_str().unwrap());
    let run = |args: &[&str]| {
        let mut all = vec!["--store", store.as_str()];
        all.extend_from_slice(args);
        credo_default_lang(&all)
    };

    let o = run(&["datasets", "check", data]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(" 行 ") && out.contains("引用关系") && out.contains("通过："), "{out}");

    let create = draw_create(data, rules);
    let o = run(&create);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("计划 1 已创建（分级分类运行 "), "{out}");
    assert!(out.contains("\n承诺值     ") && out.contains("个纳入抽查框"), "{out}");
    assert!(out.contains("按规则不纳入随机抽查（来源：规则）"), "{out}");
    let secret = out.lines().find_map(|l| l.strip_prefix("秘密值     ")).expect("the secret").trim().to_string();
    assert_eq!(secret.len(), 64, "{out}");

    // A wrong secret: the draw's error in Chinese, hashes as they are.
    let o = run(&["draw", "reveal", "1", "--secret", &"00".repeat(32), "--data", data]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("错误：承诺值与秘密值不符：SHA-256(秘密值) 为 "), "{}", stderr(&o));
    let o = run(&["draw", "reveal", "1", "--secret", &secret, "--data", data]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("计划 1 已抽取："), "{}", stdout(&o));
    let out = stdout(&run(&["draw", "verify", "--plan", "1"]));
    assert!(out.starts_with("一致（") && out.contains("结果 SHA-256 "), "{out}");
    let out = stdout(&run(&["--lang", "en", "draw", "verify", "--plan", "1"]));
    assert!(out.starts_with("identical ("), "{out}");
    // A key that is not hex: trust's error in Chinese.
    let o = run(&["draw", "verify", "--plan", "1", "--public-key", "zz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("错误：--public-key zz：公钥：'zz' 不是十六进制："), "{}", stderr(&o));

    let o = run(&["audit", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("审计链     完整：") && out.trim_end().ends_with("\n完整"), "{out}");
    let out = stdout(&run(&["--lang", "en", "audit", "verify"]));
    assert!(out.starts_with("chain      intact: ") && out.trim_end().ends_with("\nintact"), "{out}");
}

/// A rule error names file, line, column, rule and entity in both
/// languages.
#[test]
fn rule_errors_keep_their_place_in_both_languages() {
    let rules = copy_dir(&root().join("rules"));
    let tier = rules.path().join("tier.rhai");
    let text = std::fs::read_to_string(&tier).unwrap();
    let grade = "    let grade = e.composite_grade;";
    assert!(text.contains(grade), "the edit below needs this line");
    std::fs::write(&tier, text.replacen(grade, "    let grade = e.composite_grad;", 1)).unwrap();
    let dir = rules.path().to_str().unwrap();
    let zh = credo_default_lang(&["rules", "check", "--rules", dir]);
    assert_eq!(zh.status.code(), Some(2));
    let err = stderr(&zh);
    let head = format!(
        "错误：规则集 {dir} 无法加载：\ntier.rhai:79:19（第 79 行第 19 列）：Unknown property 'composite_grad'"
    );
    assert!(err.starts_with(&head), "{err}");
    assert!(err.contains("\n79 |     let grade = e.composite_grad;\n   |                   ^\n"), "{err}");
    assert!(err.contains("\n  出错的规则：`tier`，正在评估主体 9"), "{err}");
    let en = credo(&["rules", "check", "--rules", dir]);
    assert_eq!(en.status.code(), Some(2));
    let err = stderr(&en);
    let head = format!("error: rule set {dir} does not load:\ntier.rhai:79:19: Unknown property 'composite_grad'");
    assert!(err.starts_with(&head), "{err}");
    assert!(err.contains("\n  in rule `tier` evaluating entity 9") && !err.contains("出错"), "{err}");
}

/// `credo rules test`, `datasets summary` and `rules diff` (issue #13,
/// item 1): Chinese by default, the English unchanged with `--lang en`.
#[test]
fn rule_tests_summaries_and_diffs_are_chinese_by_default() {
    let rules = root().join("rules");
    let rules = rules.to_str().unwrap();
    let zh = stdout(&credo_default_lang(&["rules", "test", "--rules", rules, "-v"]));
    assert!(zh.contains("\n  通过 ") && zh.contains("\n通过：") && !zh.contains("PASS"), "{zh}");
    let en = stdout(&credo(&["rules", "test", "--rules", rules, "-v"]));
    assert!(en.contains("\n  PASS ") && en.contains("\nPASS: ") && !en.contains("通过"), "{en}");

    // A failing case: the diff and the explanation in each language.
    let broken = copy_dir(&root().join("rules"));
    std::fs::create_dir_all(broken.path().join("tests")).unwrap();
    for e in std::fs::read_dir(root().join("rules/tests")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), broken.path().join("tests").join(e.file_name())).unwrap();
    }
    let manifest = broken.path().join("rules.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (from, to) = ("probability_by_tier = [0.0, 0.05, 0.15, 0.6]", "probability_by_tier = [0.0, 0.06, 0.15, 0.6]");
    assert!(text.contains(from), "the edit below needs this line");
    std::fs::write(&manifest, text.replacen(from, to, 1)).unwrap();
    let dir = broken.path().to_str().unwrap();
    let o = credo_default_lang(&["rules", "test", "--rules", dir]);
    assert_eq!(o.status.code(), Some(1));
    let zh = stdout(&o);
    assert!(zh.contains("  失败 tier 2 is inspected with a low probability"), "{zh}");
    assert!(zh.contains("probability\n      期望 0.050000\n      实得 0.060000"), "{zh}");
    assert!(zh.contains("\n    说明：[main] ") && zh.contains("\n失败：5/70\n"), "{zh}");
    assert!(!zh.contains("FAIL") && !zh.contains("expected") && !zh.contains("explanation"), "{zh}");
    let en = stdout(&credo(&["rules", "test", "--rules", dir]));
    assert!(en.contains("  FAIL tier 2 is inspected with a low probability"), "{en}");
    assert!(en.contains("probability\n      expected 0.050000\n      got      0.060000"), "{en}");
    assert!(en.contains("\n    explanation: [main] ") && en.contains("\nFAIL: 5/70\n"), "{en}");

    let data = sample();
    let data = data.to_str().unwrap();
    let zh = stdout(&credo_default_lang(&["datasets", "summary", data]));
    assert!(zh.starts_with("市场主体：10000（存续 9192）\n\n按地市\n"), "{zh}");
    assert!(zh.contains("\n按主体类型\n") && zh.contains("有限责任公司 limited_company"), "{zh}");
    assert!(zh.contains("\n重点领域\n") && zh.contains("  药品 drug "), "{zh}");
    assert!(zh.contains("\n自然人：17748（321 人关联多个主体，每人至多 30 个主体）\n"), "{zh}");
    assert!(zh.contains("\n信用记录\n") && zh.contains("  行政处罚 penalties "), "{zh}");
    assert!(!zh.contains("entities:") && !zh.contains("by city") && !zh.contains("persons:"), "{zh}");
    let en = stdout(&credo(&["datasets", "summary", data]));
    assert!(en.starts_with("entities: 10000 (9192 active)\n\nby city\n") && !en.contains("市场主体"), "{en}");

    let to = copy_dir(&root().join("rules"));
    let tier = to.path().join("tier.rhai");
    let text = std::fs::read_to_string(&tier).unwrap();
    std::fs::write(&tier, text.replace("if general.len() >= 2 {", "if general.len() >= 1 {")).unwrap();
    let diff = |lang: &str| {
        let args =
            ["--lang", lang, "rules", "diff", "--from", rules, "--to", to.path().to_str().unwrap(), "--data", data];
        let mut args = args.to_vec();
        args.extend_from_slice(&["--as-of", "2026-06-30", "--samples", "1"]);
        let o = credo_default_lang(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let zh = diff("zh-CN");
    assert!(zh.contains("\n分级迁移（行：调整前，列：调整后）；81 个主体等级变化\n"), "{zh}");
    assert!(zh.contains("\n抽查概率变化的主体：75\n") && zh.contains("\n每年预计随机抽查次数，按部门\n"), "{zh}");
    assert!(zh.contains("\n按地市\n") && zh.contains("\n等级变化的主体示例\n") && zh.contains("\n  调整前："), "{zh}");
    assert!(!zh.contains("tier migration") && !zh.contains("before:") && !zh.contains("by city"), "{zh}");
    let en = diff("en");
    assert!(en.contains("\ntier migration (rows: before, columns: after); 81 entities change tier\n"), "{en}");
    assert!(en.contains("\nsample entities that move\n") && en.contains("\n  before: "), "{en}");
}

/// What regulators and operators see of a store (issue #13, item 1):
/// the store's key, a disclosure's check, audit differences, tokens, rule
/// versions and objection decisions, Chinese by default and English as
/// before with `--lang en`.
#[test]
fn store_commands_are_chinese_by_default() {
    let s = StoreDir::new();
    let store = s.store();
    let (data, rules) = (sample(), root().join("rules"));
    let (data, rules) = (data.to_str().unwrap(), rules.to_str().unwrap());
    let run = |lang: &str, args: &[&str]| {
        let mut all = vec!["--lang", lang, "--store", store.as_str()];
        all.extend_from_slice(args);
        let o = credo_default_lang(&all);
        assert!(o.status.code().is_some_and(|c| c < 2), "{args:?}: {}{}", stdout(&o), stderr(&o));
        o
    };

    let zh = stdout(&run("zh-CN", &["audit", "key"]));
    assert!(zh.starts_with("存储标识   ") && zh.contains("\n公钥       "), "{zh}");
    let en = stdout(&run("en", &["audit", "key"]));
    assert!(en.starts_with("store_id   ") && en.contains("\npublic_key "), "{en}");

    // A plan drawn, exported and published; its disclosure checked.
    let create = draw_create(data, rules);
    let out = stdout(&run("en", &create));
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let secret = out.lines().find(|l| l.starts_with("secret")).unwrap().split_whitespace().nth(1).unwrap();
    run("en", &["draw", "reveal", &id, "--secret", secret, "--data", data]);
    let (bundle, disclosure) = (s.path("plan.bundle"), s.path("plan.json"));
    run("en", &["draw", "export", &id, "--out", &bundle]);
    run("en", &["draw", "publish", &id, "--out", &disclosure]);
    let verify = ["draw", "verify", "--bundle", &bundle, "--disclosure", &disclosure];
    let zh = stdout(&run("zh-CN", &verify));
    assert!(zh.contains("：签名者 ") && zh.contains("承诺值和抽查框哈希一致，秘密值、信标和结果也一致"), "{zh}");
    let en = stdout(&run("en", &verify));
    assert!(en.contains("commitment and frame hash match, and so do the secret, beacon and result"), "{en}");

    // A difference between a table and the audit log.
    let db = rusqlite::Connection::open(&store).unwrap();
    db.execute("UPDATE plans SET result_hash = '00' || substr(result_hash, 3)", []).unwrap();
    let o = run("zh-CN", &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let zh = stdout(&o);
    assert!(zh.contains(&format!("\n  首处：计划：计划 {id}：表中 result_hash 为 '00")), "{zh}");
    assert!(zh.contains("，审计日志记录的是 '") && zh.contains("（审计条目 "), "{zh}");
    assert!(zh.contains("数据表     与审计日志有 ") && !zh.contains(" runs") && zh.contains("计划 1"), "{zh}");
    let en = stdout(&run("en", &["audit", "verify"]));
    assert!(en.contains(&format!("\n  first: plans: plan {id}: result_hash is '00")), "{en}");
    assert!(en.contains(", the audit log recorded '") && en.contains(" (audit entry "), "{en}");

    // Tokens: created, listed, revoked.
    let o = run("zh-CN", &["tokens", "create", "--role", "auditor", "--jurisdiction", "370102"]);
    assert!(
        stderr(&o).starts_with("已为 auditor:") && stderr(&o).contains("（管辖区域 370102），到期："),
        "{}",
        stderr(&o)
    );
    let o = run("en", &["tokens", "create", "--role", "auditor", "--jurisdiction", "370102"]);
    assert!(stderr(&o).starts_with("token 2 for auditor:") && stderr(&o).contains(" (jurisdiction 370102), expires "));
    let zh = stdout(&run("zh-CN", &["tokens", "list"]));
    assert!(zh.lines().all(|l| l.ends_with(" 到期")) && !zh.contains("expires"), "{zh}");
    let en = stdout(&run("en", &["tokens", "list"]));
    assert!(en.lines().all(|l| l.contains("  expires ")), "{en}");
    let zh = stdout(&run("zh-CN", &["tokens", "revoke", "1"]));
    assert!(zh.starts_with("auditor:") && zh.contains(" 的令牌 1 已于 ") && zh.trim_end().ends_with(" 吊销"), "{zh}");
    let en = stdout(&run("en", &["tokens", "revoke", "2"]));
    assert!(en.starts_with("token 2 of auditor:") && en.contains(" revoked at "), "{en}");
    let zh = stdout(&run("zh-CN", &["tokens", "list"]));
    assert!(zh.lines().all(|l| l.contains("  已于 ") && l.ends_with(" 吊销")), "{zh}");

    // Rule versions: the effective period and the active one.
    let next = copy_dir(&root().join("rules"));
    run("en", &["rules", "versions", "add", "--rules", rules, "--activate"]);
    run("en", &["rules", "versions", "add", "--rules", next.path().to_str().unwrap(), "--from", "2027-01-01"]);
    let zh = stdout(&run("zh-CN", &["rules", "versions", "list"]));
    assert!(zh.contains("当前启用") && zh.contains("自 2027-01-01 起 "), "{zh}");
    assert!(!zh.contains("active") && !zh.contains("from "), "{zh}");
    let en = stdout(&run("en", &["rules", "versions", "list"]));
    assert!(en.contains("active") && en.contains("from 2027-01-01 ") && !en.contains("当前启用"), "{en}");

    // An objection decided: the decision line.
    let file = [
        "objection",
        "file",
        "92370832MA99C1K82N",
        "--record",
        "济宁市监罚〔2025〕118176号",
        "--reason",
        "annulled",
        "--filed-on",
        "2026-01-10",
        "--data",
        data,
    ];
    run("en", &file);
    let decide =
        ["objection", "decide", "1", "--outcome", "rejected", "--reason", "stands", "--decided-on", "2026-02-01"];
    let zh = stdout(&run("zh-CN", &decide));
    assert!(zh.contains("\n      2026-02-01  cli 处理意见：stands"), "{zh}");
    let zh = stdout(&run("zh-CN", &["objection", "list"]));
    assert!(zh.contains(" 处理意见：stands"), "{zh}");
    let en = stdout(&run("en", &["objection", "list"]));
    assert!(en.contains("\n      2026-02-01  cli: stands") && !en.contains("处理意见"), "{en}");
}

/// `credo serve`'s first start: Chinese by default; the English lines
/// (which scripts read) unchanged with `--lang en`.
#[test]
fn serve_speaks_chinese_by_default() {
    use std::io::BufRead;
    let first_lines = |lang: &str| {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, mut out) = spawn_serve(lang, &dir.path().join("data"));
        let mut lines = String::new();
        for _ in 0..5 {
            if out.read_line(&mut lines).unwrap() == 0 {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines
    };
    let zh = first_lines("zh-CN");
    assert!(zh.starts_with("credo 正在 http://127.0.0.1:") && zh.contains(" 上监听（数据目录 "), "{zh}");
    assert!(zh.contains("\nOpenAPI 文档：http://") && zh.contains("\n网页控制台：http://"), "{zh}");
    let token = zh.lines().find_map(|l| l.strip_prefix("监管人员令牌（仅显示这一次，请妥善保存）：")).expect("a token");
    assert!(!token.is_empty() && !token.contains(' '), "{zh}");
    assert!(zh.contains("\n打开已登录的控制台：http://") && zh.contains(&format!("#token={token}\n")), "{zh}");
    let en = first_lines("en");
    assert!(en.starts_with("credo listening on http://127.0.0.1:") && en.contains(" (data in "), "{en}");
    assert!(en.contains("\nOpenAPI document: http://") && en.contains("\nweb console: http://"), "{en}");
    assert!(en.contains("\nregulator token (shown once, keep it): ") && en.contains("open the console signed in: "));
}

/// `credo draw create` of a market-regulation plan over `data` as of
/// 2026-06-30.
fn draw_create<'a>(data: &'a str, rules: &'a str) -> [&'a str; 12] {
    [
        "draw",
        "create",
        "--data",
        data,
        "--rules",
        rules,
        "--as-of",
        "2026-06-30",
        "--release-at",
        "2026-07-01T09:00:00+08:00",
        "--departments",
        "MR",
    ]
}

/// Why rule tests cannot run (a malformed test file) and why a run stops
/// (its intermediate results unwritable): Chinese by default, the English
/// unchanged with `--lang en`.
#[test]
fn rule_test_file_and_run_errors_are_chinese_by_default() {
    let rules = copy_dir(&root().join("rules"));
    std::fs::create_dir_all(rules.path().join("tests")).unwrap();
    let dup = "[[case]]\nname = \"dup\"\nas_of = \"2026-06-30\"\n[case.entity]\n[[case.others]]\nlabel = \"main\"\n";
    std::fs::write(rules.path().join("tests/dup.toml"), dup).unwrap();
    let dir = rules.path().to_str().unwrap();
    let zh = credo_default_lang(&["rules", "test", "--rules", dir]);
    assert_eq!(zh.status.code(), Some(2));
    assert_eq!(
        stderr(&zh).trim(),
        "错误：规则测试无法运行：\n规则测试文件 tests/dup.toml：用例“dup”：主体标签“main”用了两次"
    );
    let en = credo(&["rules", "test", "--rules", dir]);
    assert_eq!(en.status.code(), Some(2));
    assert_eq!(
        stderr(&en).trim(),
        "error: rule tests could not run:\ntests/dup.toml: case 'dup': entity label 'main' is used twice"
    );
    // A TOML syntax error: the parser's message as it is, framed.
    std::fs::write(rules.path().join("tests/dup.toml"), "[[case]]\nname = \n").unwrap();
    let err = stderr(&credo_default_lang(&["rules", "test", "--rules", dir]));
    assert!(err.contains("\n规则测试文件 tests/dup.toml:2:") && err.contains("：格式错误："), "{err}");
    let err = stderr(&credo(&["rules", "test", "--rules", dir]));
    assert!(err.contains("\ntests/dup.toml:2:") && !err.contains("格式错误"), "{err}");

    // Intermediate results that cannot be written (the spill directory
    // would be under a file): the system's message, framed.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let spill = file.join("spill");
    let args = |lang: &str| {
        let mut a = vec!["--lang".to_string(), lang.to_string()];
        a.extend(classify_args(
            &tmp.path().join("s.db"),
            &sample(),
            "2026-06-30",
            &tmp.path().join("out.csv"),
            &["--shard-size", "1000", "--spill-dir", spill.to_str().unwrap()],
        ));
        a
    };
    let run = |lang: &str| {
        let a = args(lang);
        let o = credo_default_lang(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        stderr(&o)
    };
    let zh = run("zh-CN");
    assert!(zh.starts_with("错误：") && zh.contains("\n中间结果读写失败："), "{zh}");
    let en = run("en");
    assert!(en.starts_with("error: ") && en.contains("\nintermediate results: ") && !en.contains("中间结果"), "{en}");
}

/// A signed document that is not a checkpoint, or a checkpoint whose
/// content does not read, given to `credo audit verify --checkpoint`.
#[test]
fn checkpoint_refusals_are_chinese_by_default() {
    let s = StoreDir::new();
    let store = s.store();
    let key = credo::trust::SigningKey::from_seed(&[7; 32]);
    let public = key.public_key().to_string();
    let write = |name: &str, doc: serde_json::Value| {
        let path = s.path(name);
        let signed = credo::trust::sign_document(&key, doc).unwrap();
        std::fs::write(&path, serde_json::to_string(&signed).unwrap()).unwrap();
        path
    };
    let verify = |lang: &str, path: &str| {
        let args =
            ["--lang", lang, "--store", &store, "audit", "verify", "--checkpoint", path, "--public-key", &public];
        let o = credo_default_lang(&args);
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        stderr(&o).trim().to_string()
    };
    let note = write("note.json", serde_json::json!({ "type": "note", "n": 1 }));
    assert_eq!(verify("zh-CN", &note), format!("错误：检查点 {note}：note 文档不是检查点"));
    assert_eq!(verify("en", &note), format!("error: checkpoint {note}: a note document is not a checkpoint"));
    let empty = write("empty.json", serde_json::json!({ "type": "credo-checkpoint-v1", "n": 1 }));
    assert!(verify("zh-CN", &empty).starts_with(&format!("错误：检查点 {empty}：检查点内容无效：missing field")));
    assert!(verify("en", &empty).starts_with(&format!("error: checkpoint {empty}: checkpoint: missing field")));

    // A checkpoint of another store, and one beyond the end of the log:
    // why it fails, in the chosen language.
    let store_id = credo::store::Store::open(std::path::Path::new(&store)).unwrap().identity().store_id.clone();
    let checkpoint = |name: &str, store_id: &str, entries: i64| {
        let doc = serde_json::json!({ "type": "credo-checkpoint-v1", "store_id": store_id, "entries": entries,
            "head": "ab".repeat(32), "at": "2026-07-01T00:00:00Z" });
        write(name, doc)
    };
    let failed = |lang: &str, path: &str| {
        let args =
            ["--lang", lang, "--store", &store, "audit", "verify", "--checkpoint", path, "--public-key", &public];
        let o = credo_default_lang(&args);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        stdout(&o)
    };
    let other = checkpoint("other.json", "another-store", 1);
    let zh = failed("zh-CN", &other);
    assert!(
        zh.contains(&format!("\n检查点     未通过：检查点属于存储 another-store，而这是存储 {store_id}\n")),
        "{zh}"
    );
    let en = failed("en", &other);
    assert!(
        en.contains(&format!(
            "\ncheckpoint FAILED: the checkpoint is of store another-store, this is store {store_id}\n"
        )),
        "{en}"
    );
    let ahead = checkpoint("ahead.json", &store_id, 99);
    let zh = failed("zh-CN", &ahead);
    assert!(zh.contains("\n检查点     未通过：日志被截断：检查点固定了第 99 条（哈希 abab"), "{zh}");
    assert!(zh.contains("），但日志止于第 1 条\n"), "{zh}");
    let en = failed("en", &ahead);
    assert!(
        en.contains("\ncheckpoint FAILED: the log was truncated: the checkpoint pins entry 99 with hash abab"),
        "{en}"
    );
}

/// A broken audit chain, a frame file swapped for another plan's (a fault
/// in credo's own words), a manifest credo refuses and a memory limit
/// that is not a size: Chinese by default, English with `--lang en`.
#[test]
fn store_faults_and_refusals_are_chinese_by_default() {
    let s = StoreDir::new();
    let store = s.store();
    let (data, rules) = (sample(), root().join("rules"));
    let (data, rules) = (data.to_str().unwrap(), rules.to_str().unwrap());
    let run = |lang: &str, args: &[&str]| {
        let mut all = vec!["--lang", lang, "--store", store.as_str()];
        all.extend_from_slice(args);
        credo_default_lang(&all)
    };
    for _ in 0..2 {
        let o = run("en", &draw_create(data, rules));
        assert!(o.status.success(), "{}", stderr(&o));
    }

    // Plan 1's frame file replaced by plan 2's.
    let frames = credo::store::results_dir(std::path::Path::new(&store)).join("frames");
    std::fs::copy(frames.join("plan-2.bundle"), frames.join("plan-1.bundle")).unwrap();
    let reveal = ["draw", "reveal", "1", "--secret", &"00".repeat(32), "--data", data];
    let o = run("zh-CN", &reveal);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let zh = stderr(&o);
    assert!(zh.starts_with("错误：计划 1 存储的抽查框哈希为 ") && zh.contains("：抽查框文件已被改动"), "{zh}");
    let o = run("en", &reveal);
    let en = stderr(&o);
    assert!(
        en.starts_with("error: the stored frame of plan 1 hashes to ") && en.contains(": the frame file was altered"),
        "{en}"
    );

    // An audit entry altered.
    let db = rusqlite::Connection::open(&store).unwrap();
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", []).unwrap();
    let o = run("zh-CN", &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let zh = stdout(&o);
    assert!(zh.starts_with("审计链     在第 2 条断裂：第 2 条已被改动：其内容的哈希与记录的哈希不符\n"), "{zh}");
    let en = stdout(&run("en", &["audit", "verify"]));
    assert!(
        en.starts_with("chain      BROKEN at entry 2: entry 2 was altered: its content does not hash to its hash\n"),
        "{en}"
    );
    // A checkpoint is refused while the chain is broken.
    let o = run("zh-CN", &["audit", "checkpoint"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("审计日志在第 2 条处断裂：第 2 条已被改动："), "{}", stderr(&o));

    // A rules.toml credo refuses.
    let copy = copy_dir(&root().join("rules"));
    let manifest = copy.path().join("rules.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("officers_per_visit = 2", "officers_per_visit = 1")).unwrap();
    let dir = copy.path().to_str().unwrap();
    let zh = stderr(&credo_default_lang(&["rules", "check", "--rules", dir]));
    assert!(zh.contains("\nrules.toml：draw.officers_per_visit 至少为 2（每次检查两名执法人员）"), "{zh}");
    let en = stderr(&credo(&["rules", "check", "--rules", dir]));
    assert!(
        en.contains("\nrules.toml: draw.officers_per_visit must be at least 2 (two officers per inspection)"),
        "{en}"
    );

    // A memory limit that is not a size, refused by the parser.
    let out = s.path("out.csv");
    let o = run(
        "zh-CN",
        &["classify", "--data", data, "--rules", rules, "--as-of", "2026-06-30", "--out", &out, "--max-memory", "lots"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("“lots”：未知的单位“lots”（请用 K、M、G 或 T，或 auto / off）"), "{}", stderr(&o));
    let o = run(
        "en",
        &["classify", "--data", data, "--rules", rules, "--as-of", "2026-06-30", "--out", &out, "--max-memory", "lots"],
    );
    assert!(stderr(&o).contains("'lots': unknown unit 'lots' (use K, M, G or T, or auto / off)"), "{}", stderr(&o));
}

/// A beacon refused at the reveal and a beacon swap found by `draw
/// verify`: why, in Chinese by default and in English with `--lang en`;
/// the value as given, the exit codes the same in both languages.
#[test]
fn beacon_refusals_are_chinese_by_default() {
    let s = StoreDir::new();
    let store = s.store();
    let (data, rules) = (sample(), root().join("rules"));
    let (data, rules) = (data.to_str().unwrap(), rules.to_str().unwrap());
    let run = |lang: &str, args: &[&str]| {
        let mut all = vec!["--lang", lang, "--store", store.as_str()];
        all.extend_from_slice(args);
        credo_default_lang(&all)
    };
    let out = stdout(&run("en", &draw_create(data, rules)));
    let secret = out.lines().find(|l| l.starts_with("secret")).unwrap().split_whitespace().nth(1).unwrap();

    // The plan names no beacon, but one is given.
    let reveal = |lang: &str, beacon: &str| {
        run(lang, &["draw", "reveal", "1", "--secret", secret, "--beacon", beacon, "--data", data])
    };
    let o = reveal("zh-CN", "abc");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(stderr(&o).trim_end(), "错误：计划 1：随机信标被拒绝：计划未指定随机信标，却给出了信标值“abc”");
    let o = reveal("en", "abc");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        "error: plan 1: beacon refused: the plan names no beacon, but the beacon value 'abc' was given"
    );

    // Revealed without one; an auditor who read a value at a source finds
    // the bundle drawn without it.
    let o = reveal("en", "");
    assert!(o.status.success(), "{}", stderr(&o));
    let bundle = s.path("plan.bundle");
    assert!(run("en", &["draw", "export", "1", "--out", &bundle]).status.success());
    let verify = |lang: &str| run(lang, &["draw", "verify", "--bundle", &bundle, "--beacon-value", "527"]);
    let o = verify("zh-CN");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let zh = stdout(&o);
    assert!(zh.starts_with("不一致：第 "), "{zh}");
    assert!(zh.contains("行：随机信标：数据包记录的信标值为“”，但给出的公布值为“527”：信标被调换了\n"), "{zh}");
    let o = verify("en");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let en = stdout(&o);
    assert!(en.starts_with("line "), "{en}");
    assert!(
        en.contains(": beacon: the bundle records the value '', but the value given as published is '527': the beacon was swapped\n"),
        "{en}"
    );
}
