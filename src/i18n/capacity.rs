//! The words of capacity planning (`credo plan preview`, `POST
//! /plans/preview`): column labels, the reasons a county × department
//! cannot be staffed, and the summary lines.

use super::Lang;
use crate::model::StaffingShortfall;

/// Why a cell cannot be staffed, in words.
pub fn shortfall_text(s: StaffingShortfall, lang: Lang) -> &'static str {
    use StaffingShortfall::*;
    match (s, lang) {
        (NoOfficer, Lang::Zh) => "无执法人员：该地区没有该部门的在岗执法人员",
        (NotQualified, Lang::Zh) => "无检查资格：在岗执法人员均不具备相应检查事项的资格",
        (TooFewForTeam, Lang::Zh) => "人员不足：具备资格的执法人员少于每次检查所需人数",
        (OverCap, Lang::Zh) => "超出上限：预计检查任务超过执法人员每个计划的检查上限",
        (NoOfficer, Lang::En) => "no officer: no active officer of the department serves the area",
        (NotQualified, Lang::En) => "not qualified: no active officer is qualified for the items",
        (TooFewForTeam, Lang::En) => "too few: fewer qualified officers than a visit needs",
        (OverCap, Lang::En) => "over cap: the expected visits exceed the officers' per-plan caps",
    }
}

/// A fixed text of the capacity preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    Title,
    County,
    Area,
    Department,
    ExpectedVisits,
    Officers,
    Qualified,
    OfficerVisits,
    Capacity,
    WithoutTeam,
    Status,
    Staffable,
    Cells,
    Unstaffable,
    AllStaffable,
    Entities,
    Eligible,
    Excluded,
    PerVisit,
    CapPerOfficer,
    OfficersFrom,
}

impl Cap {
    pub fn text(self, lang: Lang) -> &'static str {
        use Cap::*;
        match (self, lang) {
            (Title, Lang::Zh) => "计划人力预估（尚未提交）",
            (County, Lang::Zh) => "区县",
            (Area, Lang::Zh) => "执法人员所属地区",
            (Department, Lang::Zh) => "部门",
            (ExpectedVisits, Lang::Zh) => "预计检查",
            (Officers, Lang::Zh) => "在岗人员",
            (Qualified, Lang::Zh) => "具备资格",
            (OfficerVisits, Lang::Zh) => "地区所需人次",
            (Capacity, Lang::Zh) => "地区可承担人次",
            (WithoutTeam, Lang::Zh) => "无法组队检查",
            (Status, Lang::Zh) => "状态",
            (Staffable, Lang::Zh) => "可配备",
            (Cells, Lang::Zh) => "区县×部门",
            (Unstaffable, Lang::Zh) => "无法配备人员",
            (AllStaffable, Lang::Zh) => "所有区县×部门均可配备执法人员",
            (Entities, Lang::Zh) => "主体",
            (Eligible, Lang::Zh) => "可抽取",
            (Excluded, Lang::Zh) => "排除",
            (PerVisit, Lang::Zh) => "每次检查人数",
            (CapPerOfficer, Lang::Zh) => "每人每计划检查上限",
            (OfficersFrom, Lang::Zh) => "执法人员来自",
            (Title, Lang::En) => "Staffing preview of a draft plan (not committed)",
            (County, Lang::En) => "county",
            (Area, Lang::En) => "officers' area",
            (Department, Lang::En) => "department",
            (ExpectedVisits, Lang::En) => "expected visits",
            (Officers, Lang::En) => "active officers",
            (Qualified, Lang::En) => "qualified",
            (OfficerVisits, Lang::En) => "area officer-visits needed",
            (Capacity, Lang::En) => "area capacity",
            (WithoutTeam, Lang::En) => "visits without a team",
            (Status, Lang::En) => "status",
            (Staffable, Lang::En) => "staffable",
            (Cells, Lang::En) => "county × department cells",
            (Unstaffable, Lang::En) => "cannot be staffed",
            (AllStaffable, Lang::En) => "every county × department can be staffed",
            (Entities, Lang::En) => "entities",
            (Eligible, Lang::En) => "eligible",
            (Excluded, Lang::En) => "excluded",
            (PerVisit, Lang::En) => "officers per visit",
            (CapPerOfficer, Lang::En) => "visits per officer and plan",
            (OfficersFrom, Lang::En) => "officers from",
        }
    }
}

/// Where officers come from (`officers_from`), in words.
pub fn officer_area_text(county: bool, lang: Lang) -> &'static str {
    match (county, lang) {
        (false, Lang::Zh) => "主体所在市",
        (true, Lang::Zh) => "主体所在区县",
        (false, Lang::En) => "the entity's city",
        (true, Lang::En) => "the entity's county",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shortfall_has_both_texts() {
        for &s in StaffingShortfall::ALL {
            assert!(!shortfall_text(s, Lang::Zh).is_ascii());
            assert!(shortfall_text(s, Lang::En).is_ascii());
        }
    }
}
