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

    let create = [
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
    ];
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
