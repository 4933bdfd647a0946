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
