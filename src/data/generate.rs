//! Realistic synthetic datasets for Shandong, deterministic for a seed.
//!
//! Every entity is generated from its own random stream (seed, index), so
//! chunks can be generated in parallel and written in order: the files are
//! byte-identical for a seed whatever the thread count, and memory stays
//! bounded by the chunk size. The distributions are documented in
//! `datasets/README.md`; change both together.
//!
//! Long on purpose: the reference tables (cities, departments, items,
//! industries) sit beside the draws that read them. Each entity is one
//! deterministic stream of draws in a fixed order (`gen_entity`, one
//! function per section) that golden datasets depend on.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, Months};
use rayon::prelude::*;

use super::FileError;
use super::read::Format;
use super::table::TableRow;
use super::write::{TableSink, write_table};
use crate::model::*;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub entities: u64,
    pub seed: u64,
    pub out: PathBuf,
    pub format: Format,
    /// The last day of the data: nothing is dated later. Fixed, never
    /// today's date, so a seed always gives the same files.
    pub until: Date,
    /// Entities per chunk written at once.
    pub chunk: u64,
}

impl GenerateOptions {
    pub fn default_until() -> Date {
        Date::from_ymd_opt(2026, 6, 30).expect("valid date")
    }
}

/// Rows written per table.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GenerateSummary {
    pub rows: Vec<(&'static str, u64)>,
}

// ---------------------------------------------------------------------------
// A small, stable PRNG. The generator does not use `rand`'s distributions so
// that its output cannot change when a dependency does.

/// SplitMix64: fast, and its output is fixed by its definition forever.
#[derive(Clone)]
struct Rng(u64);

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64, stream: u64, index: u64) -> Rng {
        Rng(mix64(
            seed ^ mix64(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ mix64(index.wrapping_add(0x632B_E59B_D9B4_E019))),
        ))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    /// Uniform in 0..n (n > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < u64::from(*w) {
                return item;
            }
            x -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }
    /// Poisson by Knuth's method; `exp_neg` keeps it free of platform libm.
    fn poisson(&mut self, lambda: f64, cap: u32) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        let l = exp_neg(lambda);
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.unit();
            if p <= l || k >= cap {
                return k;
            }
            k += 1;
        }
    }
    fn date_between(&mut self, from: Date, to: Date) -> Date {
        let span = (to - from).num_days().max(0) as u64;
        from + Days::new(self.below(span + 1))
    }
}

/// e^-x for x >= 0 using only IEEE basic operations (bit-identical on every
/// platform, unlike `f64::exp`).
fn exp_neg(x: f64) -> f64 {
    // e^-x = (e^-(x/2^k))^(2^k) with a short Taylor series for the small part.
    let mut k = 0;
    let mut y = x;
    while y > 0.5 {
        y /= 2.0;
        k += 1;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..20 {
        term *= -y / f64::from(n);
        sum += term;
    }
    for _ in 0..k {
        sum *= sum;
    }
    sum
}

// ---------------------------------------------------------------------------
// Reference tables.

/// Share of Shandong's market entities per city (per mille), after the
/// provincial statistics: the big coastal and capital cities dominate.
const CITY_WEIGHTS: &[(u32, u32)] = &[
    (370100, 125), // 济南
    (370200, 135), // 青岛
    (370300, 50),  // 淄博
    (370400, 35),  // 枣庄
    (370500, 25),  // 东营
    (370600, 80),  // 烟台
    (370700, 95),  // 潍坊
    (370800, 70),  // 济宁
    (370900, 45),  // 泰安
    (371000, 35),  // 威海
    (371100, 25),  // 日照
    (371300, 100), // 临沂
    (371400, 50),  // 德州
    (371500, 50),  // 聊城
    (371600, 35),  // 滨州
    (371700, 70),  // 菏泽
];

const DEPARTMENTS: &[(&str, &str, u32)] = &[
    // code, name, officers per 10,000 entities
    ("MR", "市场监督管理局", 20),
    ("MPA", "药品监督管理局", 3),
    ("EM", "应急管理局", 3),
    ("EE", "生态环境局", 2),
    ("HC", "住房和城乡建设局", 2),
    ("TR", "交通运输局", 2),
    ("CT", "文化和旅游局", 1),
    ("HE", "卫生健康委员会", 2),
    ("AG", "农业农村局", 1),
];

/// The inspection item catalogue: code, department, name, industries, key field.
const ITEMS: &[(&str, &str, &str, &str, Option<KeyField>)] = &[
    ("MR-01", "MR", "营业执照及登记事项检查", "*", None),
    ("MR-02", "MR", "年度报告公示信息检查", "*", None),
    ("MR-03", "MR", "食品经营行为检查", "F512;F522;F5211;F5212;H", None),
    ("MR-04", "MR", "工业产品质量监督抽查", "C", None),
    ("MR-05", "MR", "特种设备使用安全检查", "*", Some(KeyField::SpecialEquipment)),
    ("MR-06", "MR", "特种设备生产单位监督检查", "C34;C35", Some(KeyField::SpecialEquipment)),
    ("MR-07", "MR", "计量器具使用检查", "F52;H;C;G", None),
    ("MR-08", "MR", "广告发布行为检查", "L725;I64;R", None),
    ("MR-09", "MR", "价格行为检查", "F;H;O;K702", None),
    ("MR-10", "MR", "网络交易经营行为检查", "I64;F5292", None),
    ("MPA-01", "MPA", "药品生产质量管理规范检查", "C27", Some(KeyField::Drug)),
    ("MPA-02", "MPA", "药品经营质量管理规范检查", "F5151;F5251;F5252", Some(KeyField::Drug)),
    ("MPA-03", "MPA", "疫苗生产及储存运输检查", "C2762;F5151", Some(KeyField::Vaccine)),
    ("MPA-04", "MPA", "医疗器械经营检查", "F5154;F5254;C277", None),
    ("MPA-05", "MPA", "化妆品生产经营检查", "C2682", None),
    ("EM-01", "EM", "危险化学品安全生产检查", "C25;C26;F5162;F5169;F5265", Some(KeyField::HazardousChemicals)),
    ("EM-02", "EM", "工贸企业安全生产检查", "C", None),
    ("EM-03", "EM", "非煤矿山安全检查", "B", None),
    ("EE-01", "EE", "排污许可执行情况检查", "C;D44;N772", None),
    ("EE-02", "EE", "危险废物规范化管理检查", "C26;C27;N7724", None),
    ("HC-01", "HC", "建筑施工安全检查", "E", None),
    ("HC-02", "HC", "房地产开发经营行为检查", "K701", None),
    ("TR-01", "TR", "道路运输经营检查", "G54", None),
    ("CT-01", "CT", "旅行社经营行为检查", "L7291", None),
    ("CT-02", "CT", "娱乐场所经营检查", "R90", None),
    ("HE-01", "HE", "公共场所卫生检查", "H61;O80;R893", None),
    ("HE-02", "HE", "医疗机构执业检查", "Q84", None),
    ("AG-01", "AG", "农药经营检查", "F5167;C2631", None),
    ("AG-02", "AG", "种子经营检查", "F5112;A01", None),
];

/// An industry class with its weights among individual businesses and
/// among other entities, two name words, and key-field licences.
struct IndustryDef {
    code: &'static str,
    word: &'static str,
    shop: &'static str,
    w_individual: u32,
    w_company: u32,
    key: Option<(KeyField, f64)>,
}

const fn ind(
    code: &'static str,
    word: &'static str,
    shop: &'static str,
    w_individual: u32,
    w_company: u32,
    key: Option<(KeyField, f64)>,
) -> IndustryDef {
    IndustryDef { code, word, shop, w_individual, w_company, key }
}

use KeyField::{Drug, HazardousChemicals as Haz, SpecialEquipment as SpEq, Vaccine};

const INDUSTRIES: &[IndustryDef] = &[
    ind("A0141", "农业", "蔬菜种植园", 30, 8, None),
    ind("A0313", "牧业", "养殖场", 20, 5, None),
    ind("B1019", "矿业", "采石场", 1, 3, None),
    ind("C1311", "粮油", "米面加工坊", 8, 10, None),
    ind("C1431", "食品", "糕点坊", 10, 8, None),
    ind("C1512", "酒业", "酒坊", 2, 4, None),
    ind("C1810", "服饰", "服装加工店", 8, 15, None),
    ind("C2011", "木业", "木材加工厂", 4, 6, None),
    ind("C2511", "石化", "", 0, 2, Some((Haz, 0.9))),
    ind("C2614", "化工", "", 0, 6, Some((Haz, 0.7))),
    ind("C2625", "肥业", "", 0, 3, None),
    ind("C2631", "农药", "", 0, 2, Some((Haz, 0.6))),
    ind("C2641", "涂料", "", 0, 3, Some((Haz, 0.5))),
    ind("C2682", "日化", "", 0, 3, None),
    ind("C2710", "制药", "", 0, 2, Some((Drug, 0.95))),
    ind("C2720", "药业", "", 0, 2, Some((Drug, 0.95))),
    ind("C2740", "中药", "", 0, 2, Some((Drug, 0.95))),
    ind("C2761", "生物", "", 0, 1, Some((Drug, 0.9))),
    ind("C2762", "生物制品", "", 0, 1, Some((Vaccine, 0.8))),
    ind("C2770", "医疗用品", "", 0, 2, None),
    ind("C2921", "塑料", "", 1, 6, None),
    ind("C3021", "建材", "", 2, 6, None),
    ind("C3120", "钢铁", "", 0, 2, Some((SpEq, 0.6))),
    ind("C3311", "钢构", "", 2, 8, None),
    ind("C3411", "锅炉", "", 0, 2, Some((SpEq, 0.9))),
    ind("C3435", "电梯", "", 0, 2, Some((SpEq, 0.95))),
    ind("C3670", "汽车配件", "", 0, 8, None),
    ind("C3841", "新能源", "", 0, 3, None),
    ind("C3911", "电子", "", 0, 3, None),
    ind("D4411", "电力", "", 0, 1, Some((SpEq, 0.8))),
    ind("D4511", "燃气", "", 0, 1, Some((SpEq, 0.8))),
    ind("E4710", "建设", "", 2, 25, None),
    ind("E4910", "电气安装", "电气安装部", 6, 10, None),
    ind("E5011", "装饰", "装饰部", 12, 18, None),
    ind("F5112", "种业", "种子店", 6, 3, None),
    ind("F5121", "粮油", "粮油批发部", 20, 10, None),
    ind("F5132", "服装", "服装批发部", 20, 10, None),
    ind("F5151", "医药", "", 0, 3, Some((Drug, 0.95))),
    ind("F5154", "医疗器械", "", 1, 4, None),
    ind("F5162", "石油", "", 0, 2, Some((Haz, 0.9))),
    ind("F5167", "农资", "农资店", 8, 3, None),
    ind("F5169", "化工", "", 0, 4, Some((Haz, 0.3))),
    ind("F5174", "五金", "五金店", 30, 15, None),
    ind("F5211", "百货", "百货店", 40, 10, None),
    ind("F5212", "超市", "便利店", 90, 10, None),
    ind("F5223", "果蔬", "果蔬店", 50, 3, None),
    ind("F5224", "生鲜", "生鲜店", 45, 3, None),
    ind("F5227", "烟酒", "烟酒店", 40, 2, None),
    ind("F5232", "服饰", "服装店", 60, 8, None),
    ind("F5251", "大药房", "药店", 8, 6, Some((Drug, 0.98))),
    ind("F5254", "医疗器械", "医疗器械店", 4, 3, None),
    ind("F5261", "汽车销售", "", 0, 4, None),
    ind("F5265", "加油站", "", 1, 2, Some((Haz, 0.95))),
    ind("F5271", "电器", "家电店", 15, 5, None),
    ind("F5292", "电子商务", "网店", 40, 20, None),
    ind("G5431", "物流", "货运部", 30, 20, None),
    ind("G6020", "快递", "快递服务部", 8, 6, None),
    ind("H6110", "酒店", "", 0, 4, Some((SpEq, 0.4))),
    ind("H6129", "旅馆", "旅馆", 15, 4, Some((SpEq, 0.05))),
    ind("H6210", "餐饮", "饭店", 80, 15, None),
    ind("H6220", "快餐", "快餐店", 60, 8, None),
    ind("H6291", "小吃", "小吃店", 90, 3, None),
    ind("I6432", "网络科技", "", 0, 8, None),
    ind("I6513", "软件", "", 0, 15, None),
    ind("I6550", "数据", "", 0, 4, None),
    ind("I6560", "信息技术", "", 0, 10, None),
    ind("J6637", "网络借贷", "", 0, 1, None),
    ind("J6739", "私募基金", "", 0, 1, None),
    ind("K7010", "置业", "", 0, 8, Some((SpEq, 0.3))),
    ind("K7020", "物业", "", 0, 8, Some((SpEq, 0.5))),
    ind("L7111", "汽车租赁", "租车行", 4, 6, None),
    ind("L7212", "投资", "", 0, 15, None),
    ind("L7251", "广告", "广告部", 8, 10, None),
    ind("L7291", "旅行社", "", 0, 3, None),
    ind("M7320", "科技", "", 0, 10, None),
    ind("M7519", "技术", "", 0, 15, None),
    ind("N7724", "环保", "", 0, 2, None),
    ind("O8010", "家政", "家政服务部", 25, 6, None),
    ind("O8111", "汽修", "汽修店", 35, 6, None),
    ind("P8391", "培训", "培训部", 6, 6, None),
    ind("Q8421", "医疗", "诊所", 4, 2, None),
    ind("R8930", "健身", "健身馆", 6, 4, Some((SpEq, 0.05))),
    ind("R9013", "网吧", "网吧", 8, 2, None),
];

const ENTITY_TYPES: &[(EntityType, u32)] = &[
    (EntityType::IndividualBusiness, 660),
    (EntityType::LimitedCompany, 270),
    (EntityType::Branch, 30),
    (EntityType::FarmerCooperative, 20),
    (EntityType::SoleProprietorship, 8),
    (EntityType::Partnership, 6),
    (EntityType::JointStockCompany, 3),
    (EntityType::ForeignInvested, 3),
];

const TRADE_CHARS: &[&str] = &[
    "鑫", "源", "恒", "瑞", "泰", "华", "盛", "隆", "兴", "达", "宏", "福", "祥", "安", "康", "德", "润", "金", "海",
    "通", "信", "诚", "永", "昌", "丰", "汇", "嘉", "和", "佳", "新", "科", "智", "创", "联", "利", "明", "远", "宇",
    "辰", "博", "东", "齐", "鲁", "岱", "泉", "荣", "志", "鸿", "聚", "益",
];

/// Latent compliance class: most entities are clean, a long tail offends again and again.
#[derive(Clone, Copy, PartialEq)]
enum Conduct {
    Clean,
    Occasional,
    Repeat,
}

const PENALTY_DEPARTMENTS: &[(&str, &str)] = &[
    // industry prefix → department that penalises it
    ("C27", "MPA"),
    ("F515", "MPA"),
    ("F525", "MPA"),
    ("C26", "EM"),
    ("C25", "EM"),
    ("F5162", "EM"),
    ("F5265", "EM"),
    ("E", "HC"),
    ("K70", "HC"),
    ("G54", "TR"),
    ("L7291", "CT"),
    ("R90", "CT"),
    ("Q84", "HE"),
    ("F5167", "AG"),
];

/// The department that regulates an industry most closely (MR by default).
fn lead_department(industry: &str) -> &'static str {
    PENALTY_DEPARTMENTS.iter().find(|(p, _)| industry.starts_with(p)).map(|(_, d)| *d).unwrap_or("MR")
}

const DEPT_SHORT: &[(&str, &str)] = &[
    ("MR", "市监"),
    ("MPA", "药监"),
    ("EM", "应急"),
    ("EE", "环"),
    ("HC", "建"),
    ("TR", "交"),
    ("CT", "文旅"),
    ("HE", "卫"),
    ("AG", "农"),
];

fn dept_short(code: &str) -> &'static str {
    DEPT_SHORT.iter().find(|(c, _)| *c == code).map(|(_, s)| *s).unwrap_or("")
}

/// The approval a department grants on a commitment (告知承诺制 事项).
const APPROVAL_ITEMS: &[(&str, &str)] = &[
    ("MR", "食品经营许可"),
    ("MPA", "药品经营许可"),
    ("EM", "危险化学品经营许可"),
    ("EE", "排污许可"),
    ("HC", "建筑业企业资质"),
    ("TR", "道路运输经营许可"),
    ("CT", "娱乐场所经营许可"),
    ("HE", "公共场所卫生许可"),
    ("AG", "农药经营许可"),
];

fn approval_item(code: &str) -> &'static str {
    APPROVAL_ITEMS.iter().find(|(c, _)| *c == code).map(|(_, s)| *s).unwrap_or("经营许可")
}

// ---------------------------------------------------------------------------
// Generation context shared by all chunks.

struct Context {
    seed: u64,
    until: Date,
    /// Oldest date records are kept for.
    history_from: Date,
    /// Persons who head many companies; entities draw from them with a skew.
    pool: Vec<PersonId>,
    /// Officers of (department, city), for past inspections.
    officers_at: rustc_hash::FxHashMap<(&'static str, u32), Vec<String>>,
    counties: Vec<(u32, Vec<(u32, u32)>)>,
    year_weights: Vec<(i32, u32)>,
    industries_individual: Vec<(usize, u32)>,
    industries_company: Vec<(usize, u32)>,
}

fn person_id(seed: u64, kind: u64, index: u64) -> PersonId {
    let mut r = Rng::new(seed, 0x5045_5253_4f4e ^ kind, index);
    let a = r.next_u64().to_be_bytes();
    let b = r.next_u64().to_be_bytes();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a);
    out[8..].copy_from_slice(&b);
    PersonId(out)
}

/// The credit-code alphabet (GB 32100), the model's own.
const USCC_BODY: &[u8; 31] = crate::model::uscc::ALPHABET;

/// A unique organisation-code body for entity `i`: legacy all-digit codes
/// for entities registered before 2016, `MA` codes after, each an affine
/// bijection of the index so no two entities share one.
fn org_body(seed: u64, i: u64, legacy: bool) -> [u8; 8] {
    let mut out = [0u8; 8];
    if legacy {
        let m: u64 = 100_000_000;
        let v = (i % m * 7_654_321 % m + mix64(seed) % m) % m;
        let s = format!("{v:08}");
        out.copy_from_slice(s.as_bytes());
    } else {
        let m: u64 = 31u64.pow(6);
        let mut v = ((i % m) * 1_000_003 % m + mix64(seed) % m) % m;
        out[0] = b'M';
        out[1] = b'A';
        for k in (2..8).rev() {
            out[k] = USCC_BODY[(v % 31) as usize];
            v /= 31;
        }
    }
    out
}

impl Context {
    fn new(opts: &GenerateOptions, officers: &[Officer], pool_size: usize) -> Context {
        let divisions = region::divisions();
        let counties = CITY_WEIGHTS
            .iter()
            .map(|(city, _)| {
                let list = divisions
                    .counties_of(*city)
                    .map(|d| {
                        // Urban districts (区) hold more entities than counties.
                        let w = if d.name.ends_with('区') { 3 } else { 2 };
                        (d.code, w)
                    })
                    .collect();
                (*city, list)
            })
            .collect();
        let mut year_weights = Vec::new();
        let mut w = 100.0f64;
        for y in 1985..=opts.until.year() {
            year_weights.push((y, w as u32));
            // Registrations grew about 11% a year (commercial-registration
            // reform after 2014 accelerated it).
            w *= if y >= 2014 { 1.14 } else { 1.09 };
        }
        let mut officers_at: rustc_hash::FxHashMap<(&'static str, u32), Vec<String>> = Default::default();
        for o in officers.iter().filter(|o| o.active) {
            let dept = DEPARTMENTS.iter().find(|d| d.0 == o.department).map(|d| d.0).expect("known department");
            officers_at.entry((dept, o.region)).or_default().push(o.officer_id.clone());
        }
        Context {
            seed: opts.seed,
            until: opts.until,
            history_from: opts.until.checked_sub_months(Months::new(12 * 8)).expect("date in range"),
            pool: (0..pool_size as u64).map(|j| person_id(opts.seed, 2, j)).collect(),
            officers_at,
            counties,
            year_weights,
            industries_individual: INDUSTRIES
                .iter()
                .enumerate()
                .map(|(i, d)| (i, d.w_individual))
                .filter(|x| x.1 > 0)
                .collect(),
            industries_company: INDUSTRIES
                .iter()
                .enumerate()
                .map(|(i, d)| (i, d.w_company))
                .filter(|x| x.1 > 0)
                .collect(),
        }
    }

    /// A serial entrepreneur: low indices are drawn far more often
    /// (index = pool size × u^1.5), so a few persons head many companies.
    fn pool_person(&self, r: &mut Rng) -> PersonId {
        let u = r.unit();
        let idx = (self.pool.len() as f64 * u * u.sqrt()) as usize;
        self.pool[idx.min(self.pool.len() - 1)]
    }
}

/// Everything generated for one entity.
#[derive(Default)]
struct Batch {
    entities: Vec<MarketEntity>,
    persons: Vec<Person>,
    roles: Vec<Role>,
    evaluations: Vec<CreditEvaluation>,
    penalties: Vec<Penalty>,
    abnormal: Vec<AbnormalListing>,
    complaints: Vec<Complaint>,
    commitments: Vec<Commitment>,
    inspections: Vec<InspectionRecord>,
    repairs: Vec<RepairApplication>,
}

impl Batch {
    fn append(&mut self, mut o: Batch) {
        self.entities.append(&mut o.entities);
        self.persons.append(&mut o.persons);
        self.roles.append(&mut o.roles);
        self.evaluations.append(&mut o.evaluations);
        self.penalties.append(&mut o.penalties);
        self.abnormal.append(&mut o.abnormal);
        self.complaints.append(&mut o.complaints);
        self.commitments.append(&mut o.commitments);
        self.inspections.append(&mut o.inspections);
        self.repairs.append(&mut o.repairs);
    }
}

fn add_months(d: Date, m: u32) -> Date {
    d.checked_add_months(Months::new(m)).unwrap_or(d)
}

/// One entity and everything on record about it. Each section draws from
/// the entity's own stream in a fixed order, so the same seed gives the
/// same dataset byte for byte: a section may not reorder its draws.
fn gen_entity(ctx: &Context, i: u64, out: &mut Batch) {
    let mut r = Rng::new(ctx.seed, 1, i);
    let e = gen_market_entity(ctx, i, &mut r, out);
    gen_roles(ctx, &e, &mut r, out);
    let mut g = Records::new(ctx, e, &mut r);
    let penalties = g.penalties(&mut r, out);
    g.abnormal(&mut r, out);
    g.complaints(&mut r, out);
    g.commitments(&mut r, out);
    g.repairs(&penalties, &mut r, out);
    g.inspections(&mut r, out);
    g.evaluations(&mut r, out);
}

/// What the sections after the entity row read of it.
struct Drawn {
    i: u64,
    uscc: Uscc,
    city: u32,
    county: u32,
    entity_type: EntityType,
    individual: bool,
    company_like: bool,
    year: i32,
    registered_on: Date,
    age_years: f64,
    def: &'static IndustryDef,
    /// The city's name without 市, as decision numbers begin.
    city_short: &'static str,
}

/// The entity row: where, what, since when, in which industry, its name.
fn gen_market_entity(ctx: &Context, i: u64, r: &mut Rng, out: &mut Batch) -> Drawn {
    let city = *r.pick(CITY_WEIGHTS);
    let counties = &ctx.counties.iter().find(|(c, _)| *c == city).expect("city").1;
    let county = *r.pick(counties);
    let entity_type = *r.pick(ENTITY_TYPES);
    let individual = entity_type == EntityType::IndividualBusiness;
    let company_like =
        matches!(entity_type, EntityType::LimitedCompany | EntityType::JointStockCompany | EntityType::ForeignInvested);

    let year = *r.pick(&ctx.year_weights);
    let year_start = Date::from_ymd_opt(year, 1, 1).expect("valid");
    let year_end = Date::from_ymd_opt(year, 12, 31).expect("valid").min(ctx.until);
    let registered_on = r.date_between(year_start, year_end);
    let age_years = f64::from(ctx.until.year() - year);

    let ind_idx = *r.pick(if individual { &ctx.industries_individual } else { &ctx.industries_company });
    let def = &INDUSTRIES[ind_idx];
    let industry = IndustryCode::parse(def.code).expect("catalogue code");
    let key_fields = draw_key_fields(r, def, company_like);
    let new_economy = if !individual && year >= 2015 { draw_new_economy(r, def) } else { None };
    let status = draw_status(r, age_years);

    let category = match entity_type {
        EntityType::IndividualBusiness => b'2',
        EntityType::FarmerCooperative => b'3',
        _ => b'1',
    };
    let uscc =
        Uscc::assemble(b'9', category, county, org_body(ctx.seed, i, year < 2016)).expect("generated code is valid");
    let city_short = region::divisions().name(city).trim_end_matches('市');
    let name = draw_name(r, entity_type, def, city_short, region::divisions().name(county));

    out.entities.push(MarketEntity {
        uscc,
        name,
        entity_type,
        region: county,
        industry,
        registered_on,
        status,
        key_fields,
        new_economy,
    });
    Drawn {
        i,
        uscc,
        city,
        county,
        entity_type,
        individual,
        company_like,
        year,
        registered_on,
        age_years,
        def,
        city_short,
    }
}

fn draw_key_fields(r: &mut Rng, def: &IndustryDef, company_like: bool) -> KeyFields {
    let mut key_fields = KeyFields::default();
    if let Some((field, p)) = def.key
        && r.chance(p)
    {
        key_fields.insert(field);
        if field == KeyField::Vaccine {
            key_fields.insert(KeyField::Drug);
        }
    }
    // Elevators and boilers: many larger premises use special equipment.
    if company_like && !key_fields.contains(KeyField::SpecialEquipment) && r.chance(0.04) {
        key_fields.insert(KeyField::SpecialEquipment);
    }
    key_fields
}

/// For entities other than individual businesses registered from 2015.
fn draw_new_economy(r: &mut Rng, def: &IndustryDef) -> Option<NewEconomy> {
    let section = def.code.as_bytes()[0];
    let (cat, p) = match def.code {
        "J6637" | "J6739" => (Some(NewEconomy::DigitalFinance), 0.8),
        "L7111" => (Some(NewEconomy::SharingEconomy), 0.3),
        "I6432" | "F5292" => (Some(NewEconomy::PlatformEconomy), 0.35),
        "I6513" | "I6550" => (Some(NewEconomy::ArtificialIntelligence), 0.25),
        _ if section == b'I' || section == b'M' => (Some(NewEconomy::IndustrialInternet), 0.15),
        _ => (None, 0.0),
    };
    cat.filter(|_| r.chance(p))
}

/// Old entities are more often gone.
fn draw_status(r: &mut Rng, age_years: f64) -> EntityStatus {
    let gone = (0.01 + age_years * 0.008).min(0.35);
    let x = r.unit();
    if x < gone * 0.7 {
        EntityStatus::Deregistered
    } else if x < gone * 0.95 {
        EntityStatus::Revoked
    } else if x < gone {
        EntityStatus::MovedOut
    } else {
        EntityStatus::Active
    }
}

fn draw_name(r: &mut Rng, entity_type: EntityType, def: &IndustryDef, city_name: &str, county_name: &str) -> String {
    let t1 = TRADE_CHARS[r.below(TRADE_CHARS.len() as u64) as usize];
    let t2 = TRADE_CHARS[r.below(TRADE_CHARS.len() as u64) as usize];
    match entity_type {
        EntityType::IndividualBusiness => {
            let shop = if def.shop.is_empty() { "经营部" } else { def.shop };
            format!("{county_name}{t1}{t2}{shop}")
        }
        EntityType::FarmerCooperative => format!("{county_name}{t1}{t2}{}专业合作社", def.word),
        EntityType::Branch => format!("{city_name}{t1}{t2}{}有限公司{county_name}分公司", def.word),
        EntityType::SoleProprietorship => format!("{county_name}{t1}{t2}{}商行", def.word),
        EntityType::Partnership => format!("{city_name}{t1}{t2}{}企业（有限合伙）", def.word),
        EntityType::JointStockCompany => format!("山东{t1}{t2}{}股份有限公司", def.word),
        EntityType::ForeignInvested => format!("{t1}{t2}{}（{city_name}）有限公司", def.word),
        _ => format!("{city_name}{t1}{t2}{}有限公司", def.word),
    }
}

/// Persons and their roles: a legal representative (now and then with a
/// predecessor), principals, shareholders and directors.
fn gen_roles(ctx: &Context, e: &Drawn, r: &mut Rng, out: &mut Batch) {
    let (i, uscc, county, registered_on) = (e.i, e.uscc, e.county, e.registered_on);
    let (individual, company_like, entity_type) = (e.individual, e.company_like, e.entity_type);
    let mut slot = 0u64;
    let mut fresh = |out: &mut Batch, r: &mut Rng| {
        let id = person_id(ctx.seed, 1, i * 16 + slot);
        slot += 1;
        let region =
            if r.chance(0.9) { county } else { ctx.counties[r.below(ctx.counties.len() as u64) as usize].1[0].0 };
        out.persons.push(Person { person_id: id, region });
        id
    };
    let role = |out: &mut Batch, p: PersonId, kind: RoleKind, since: Date, until: Option<Date>| {
        out.roles.push(Role { uscc, person_id: p, role: kind, since, until });
    };
    let serial_share = if individual { 0.02 } else { 0.18 };
    let lr = if r.chance(serial_share) { ctx.pool_person(r) } else { fresh(out, r) };
    // A change of legal representative now and then, the old one kept with an end date.
    if e.age_years > 3.0 && r.chance(0.06) {
        let old = fresh(out, r);
        let changed = r.date_between(registered_on, ctx.until);
        role(out, old, RoleKind::LegalRepresentative, registered_on, Some(changed));
        role(out, lr, RoleKind::LegalRepresentative, changed, None);
    } else {
        role(out, lr, RoleKind::LegalRepresentative, registered_on, None);
    }
    if !individual {
        let principal = if r.chance(0.7) { lr } else { fresh(out, r) };
        role(out, principal, RoleKind::Principal, registered_on, None);
        if r.chance(0.15) {
            let p = fresh(out, r);
            role(out, p, RoleKind::DirectlyResponsible, registered_on, None);
        }
    }
    if company_like || entity_type == EntityType::Partnership || entity_type == EntityType::FarmerCooperative {
        role(out, lr, RoleKind::Shareholder, registered_on, None);
        for _ in 0..r.below(3) {
            let p = if r.chance(0.12) { ctx.pool_person(r) } else { fresh(out, r) };
            if p != lr {
                role(out, p, RoleKind::Shareholder, registered_on, None);
            }
        }
    }
    if entity_type == EntityType::JointStockCompany || (company_like && r.chance(0.3)) {
        let n = if entity_type == EntityType::JointStockCompany { 3 + r.below(3) } else { 1 + r.below(3) };
        for _ in 0..n {
            let p = if r.chance(0.1) { ctx.pool_person(r) } else { fresh(out, r) };
            if p != lr {
                role(out, p, RoleKind::Director, registered_on, None);
            }
        }
    }
    dedupe_roles(out, uscc);
}

/// A penalty as the repair applications read it: decision number,
/// severity, decided on, fulfilled on, department.
type PenaltyDrawn = (String, Severity, Date, Option<Date>, &'static str);

/// The entity's records, from its latent conduct: penalties, abnormal
/// listings, complaints, commitments, repairs, inspections, evaluations.
struct Records<'c> {
    ctx: &'c Context,
    e: Drawn,
    conduct: Conduct,
    /// Records fall between this day and `ctx.until`.
    window_from: Date,
    window_years: f64,
    /// The department that leads the entity's industry.
    dept: &'static str,
    /// Commitments made so far (their ids are numbered per entity).
    commit_seq: u64,
}

impl<'c> Records<'c> {
    fn new(ctx: &'c Context, e: Drawn, r: &mut Rng) -> Records<'c> {
        let conduct = {
            let x = r.unit();
            if x < 0.82 {
                Conduct::Clean
            } else if x < 0.97 {
                Conduct::Occasional
            } else {
                Conduct::Repeat
            }
        };
        let window_from = e.registered_on.max(ctx.history_from);
        let window_years = (ctx.until - window_from).num_days() as f64 / 365.25;
        let dept = lead_department(e.def.code);
        Records { ctx, e, conduct, window_from, window_years, dept, commit_seq: 0 }
    }

    fn penalties(&mut self, r: &mut Rng, out: &mut Batch) -> Vec<PenaltyDrawn> {
        let (ctx, conduct, dept, i, uscc) = (self.ctx, self.conduct, self.dept, self.e.i, self.e.uscc);
        let rate = match conduct {
            Conduct::Clean => 0.004,
            Conduct::Occasional => 0.12 + r.unit() * 0.1,
            Conduct::Repeat => 0.4 + r.unit() * 0.6,
        };
        let n_penalties = r.poisson(rate * self.window_years, 30);
        let mut penalty_ids = Vec::new();
        for k in 0..n_penalties {
            let decided_on = r.date_between(self.window_from, ctx.until);
            let severity = {
                let x = r.unit();
                let (minor, general) = if conduct == Conduct::Repeat { (0.45, 0.8) } else { (0.6, 0.92) };
                if x < minor {
                    Severity::Minor
                } else if x < general {
                    Severity::General
                } else {
                    Severity::Serious
                }
            };
            let (intentional, harmful) = match severity {
                Severity::Minor => (r.chance(0.15), r.chance(0.1)),
                Severity::General => (r.chance(0.4), r.chance(0.35)),
                Severity::Serious => (r.chance(0.75), r.chance(0.8)),
            };
            let penalty_dept = if r.chance(0.8) { dept } else { "MR" };
            let disclosure_until = match severity {
                Severity::Minor => add_months(decided_on, 3),
                Severity::General => add_months(decided_on, 12),
                Severity::Serious => add_months(decided_on, 36),
            };
            let fulfilled_on = r.chance(0.92).then(|| decided_on + Days::new(10 + r.below(80)));
            let decision_no = format!(
                "{}{}罚〔{}〕{}号",
                self.e.city_short,
                dept_short(penalty_dept),
                decided_on.year(),
                i * 32 + u64::from(k)
            );
            penalty_ids.push((decision_no.clone(), severity, decided_on, fulfilled_on, penalty_dept));
            out.penalties.push(Penalty {
                decision_no: decision_no.into(),
                uscc,
                department: penalty_dept.into(),
                decided_on,
                severity,
                intentional,
                harmful,
                disclosure_until,
                fulfilled_on: fulfilled_on.filter(|d| *d <= ctx.until),
            });
        }
        penalty_ids
    }

    /// Annual reports are due by 30 June; a missed one lists the entity.
    fn abnormal(&mut self, r: &mut Rng, out: &mut Batch) {
        let ctx = self.ctx;
        let miss = match self.conduct {
            Conduct::Clean => 0.01,
            Conduct::Occasional => 0.06,
            Conduct::Repeat => 0.2,
        } * if self.e.individual { 0.5 } else { 1.0 };
        for (k, y) in (self.window_from.year()..ctx.until.year()).enumerate() {
            if r.chance(miss) {
                let listed_on = Date::from_ymd_opt(y + 1, 7, 1).expect("valid");
                if listed_on > ctx.until {
                    continue;
                }
                let reason = if r.chance(0.85) {
                    AbnormalReason::AnnualReportMissing
                } else {
                    AbnormalReason::AddressUnreachable
                };
                let removed_on =
                    r.chance(0.65).then(|| listed_on + Days::new(20 + r.below(300))).filter(|d| *d <= ctx.until);
                out.abnormal.push(AbnormalListing {
                    listing_id: format!("YC{}{:06}", y + 1, self.e.i * 16 + k as u64).into(),
                    uscc: self.e.uscc,
                    department: "MR".into(),
                    listed_on,
                    reason,
                    removed_on,
                });
            }
        }
    }

    fn complaints(&mut self, r: &mut Rng, out: &mut Batch) {
        let (ctx, conduct, code) = (self.ctx, self.conduct, self.e.def.code);
        let complaint_rate = match conduct {
            Conduct::Clean => 0.01,
            Conduct::Occasional => 0.15,
            Conduct::Repeat => 0.5,
        } * if code.starts_with('F') || code.starts_with('H') { 1.5 } else { 0.7 };
        for k in 0..r.poisson(complaint_rate * self.window_years, 20) {
            let received_on = r.date_between(self.window_from, ctx.until);
            let hotline = if r.chance(0.7) { Hotline::H12315 } else { Hotline::H12345 };
            let concluded = received_on + Days::new(5 + r.below(40));
            let (status, concluded_on) = if concluded > ctx.until {
                (ComplaintStatus::Pending, None)
            } else if r.chance(if conduct == Conduct::Clean { 0.25 } else { 0.5 }) {
                (ComplaintStatus::Verified, Some(concluded))
            } else {
                (ComplaintStatus::Unfounded, Some(concluded))
            };
            let department = if hotline == Hotline::H12315 { "MR" } else { self.dept };
            out.complaints.push(Complaint {
                complaint_id: format!("TS{}{:08}", received_on.year(), self.e.i * 32 + u64::from(k)).into(),
                uscc: self.e.uscc,
                hotline,
                department: department.into(),
                received_on,
                status,
                concluded_on,
            });
        }
    }

    /// Records one commitment made to `department` (for `approval_item`),
    /// checked (fulfilled or breached) some months later; returns its id.
    /// The department and item draw nothing from `r`, so they leave every
    /// other table as it was before they existed.
    #[allow(clippy::too_many_arguments)]
    fn commitment(
        &mut self,
        out: &mut Batch,
        r: &mut Rng,
        kind: CommitmentKind,
        made_on: Date,
        subject: String,
        breach: f64,
        (department, approval_item): (&str, Option<&str>),
    ) -> String {
        let commitment_id = format!("CN{}{:08}", made_on.year(), self.e.i * 16 + self.commit_seq);
        self.commit_seq += 1;
        let checked = made_on + Days::new(30 + r.below(150));
        let (status, checked_on) = if checked > self.ctx.until {
            (CommitmentStatus::Pending, None)
        } else if r.chance(breach) {
            (CommitmentStatus::Breached, Some(checked))
        } else {
            (CommitmentStatus::Fulfilled, Some(checked))
        };
        out.commitments.push(Commitment {
            commitment_id: commitment_id.as_str().into(),
            uscc: self.e.uscc,
            kind,
            made_on,
            subject: subject.into(),
            status,
            checked_on,
            department: Some(department.into()),
            approval_item: approval_item.map(Into::into),
        });
        commitment_id
    }

    /// The chance a commitment of this entity is breached.
    fn breach(&self) -> f64 {
        match self.conduct {
            Conduct::Clean => 0.02,
            Conduct::Occasional => 0.1,
            Conduct::Repeat => 0.3,
        }
    }

    /// Commitments instead of approvals, public and industry commitments.
    fn commitments(&mut self, r: &mut Rng, out: &mut Batch) {
        let (ctx, breach) = (self.ctx, self.breach());
        if self.e.year >= 2019 && r.chance(0.15) {
            let made_on = r.date_between(self.e.registered_on, ctx.until);
            let subject = format!("{}许〔{}〕{}号", dept_short(self.dept), made_on.year(), self.e.i);
            let item = (self.dept, Some(approval_item(self.dept)));
            self.commitment(out, r, CommitmentKind::ApprovalSubstitute, made_on, subject, breach, item);
        }
        if !self.e.individual && r.chance(0.05) {
            let made_on = r.date_between(self.window_from, ctx.until);
            let subject = "综合信用承诺".into();
            self.commitment(out, r, CommitmentKind::Public, made_on, subject, breach / 2.0, ("MR", None));
        }
        if self.e.company_like && r.chance(0.03) {
            let made_on = r.date_between(self.window_from, ctx.until);
            let subject = format!("{}行业自律承诺", self.e.def.word);
            self.commitment(out, r, CommitmentKind::Industry, made_on, subject, breach / 2.0, (self.dept, None));
        }
    }

    /// Credit repair applications for general and serious penalties.
    fn repairs(&mut self, penalties: &[PenaltyDrawn], r: &mut Rng, out: &mut Batch) {
        for (k, (decision_no, severity, decided_on, fulfilled_on, dept)) in penalties.iter().enumerate() {
            if *severity == Severity::Minor || fulfilled_on.is_none() || !r.chance(0.3) {
                continue;
            }
            let min_months = if *severity == Severity::General { 3 } else { 12 };
            // Some apply too early, so eligibility rules have something to refuse.
            let months =
                if r.chance(0.2) { r.below(u64::from(min_months)) as u32 } else { min_months + r.below(12) as u32 };
            let applied_on = add_months(*decided_on, months) + Days::new(r.below(28));
            if applied_on > self.ctx.until {
                continue;
            }
            let commitment_id = r.chance(0.9).then(|| {
                let subject = decision_no.clone();
                self.commitment(out, r, CommitmentKind::Repair, applied_on, subject, 0.05, (*dept, None))
            });
            out.repairs.push(RepairApplication {
                repair_id: format!("XF{}{:08}", applied_on.year(), self.e.i * 32 + k as u64).into(),
                uscc: self.e.uscc,
                record_id: decision_no.as_str().into(),
                applied_on,
                commitment_id: commitment_id.map(|c| c.as_str().into()),
            });
        }
    }

    /// Past inspections over the last four years, by officers of the city.
    fn inspections(&mut self, r: &mut Rng, out: &mut Batch) {
        let (ctx, conduct) = (self.ctx, self.conduct);
        let inspect = match conduct {
            Conduct::Clean => 0.03,
            Conduct::Occasional => 0.06,
            Conduct::Repeat => 0.2,
        };
        let mut insp_seq = 0u64;
        for y in (ctx.until.year() - 3)..=ctx.until.year() {
            let from = Date::from_ymd_opt(y, 1, 1).expect("valid").max(self.e.registered_on);
            let to = Date::from_ymd_opt(y, 12, 31).expect("valid").min(ctx.until);
            if from > to || !r.chance(inspect) {
                continue;
            }
            let inspected_on = r.date_between(from, to);
            let dept = if r.chance(0.7) { "MR" } else { self.dept };
            let kind = if conduct == Conduct::Repeat && r.chance(0.5) {
                InspectionKind::Targeted
            } else if r.chance(0.3) {
                InspectionKind::JointRandom
            } else {
                InspectionKind::Random
            };
            let result = {
                let x = r.unit();
                let bad = if conduct == Conduct::Clean { 0.05 } else { 0.3 };
                if x < bad * 0.5 {
                    InspectionResult::Violation
                } else if x < bad {
                    InspectionResult::IssuesCorrected
                } else if x < bad + 0.02 {
                    InspectionResult::NotFound
                } else {
                    InspectionResult::Compliant
                }
            };
            let officers = match ctx.officers_at.get(&(dept, self.e.city)) {
                Some(list) if list.len() >= 2 => {
                    let a = r.below(list.len() as u64) as usize;
                    let b = (a + 1 + r.below(list.len() as u64 - 1) as usize) % list.len();
                    vec![list[a].as_str().into(), list[b].as_str().into()]
                }
                _ => Vec::new(),
            };
            out.inspections.push(InspectionRecord {
                inspection_id: format!("JC{y}{:08}", self.e.i * 8 + insp_seq).into(),
                uscc: self.e.uscc,
                department: dept.into(),
                inspected_on,
                kind,
                result,
                officers,
            });
            insp_seq += 1;
        }
    }

    /// A four-grade evaluation (A to D) weighted by conduct.
    fn grade4(&self, r: &mut Rng) -> &'static str {
        let w: &[(&'static str, u32)] = match self.conduct {
            Conduct::Clean => &[("A", 55), ("B", 40), ("C", 5)],
            Conduct::Occasional => &[("A", 15), ("B", 55), ("C", 25), ("D", 5)],
            Conduct::Repeat => &[("B", 20), ("C", 50), ("D", 30)],
        };
        r.pick::<&str>(w)
    }

    /// Composite (yearly), industry and, for a few companies, market
    /// credit evaluations.
    fn evaluations(&mut self, r: &mut Rng, out: &mut Batch) {
        let (ctx, uscc, registered_on) = (self.ctx, self.e.uscc, self.e.registered_on);
        if !self.e.individual || r.chance(0.5) {
            for y in (ctx.until.year() - 3)..ctx.until.year() {
                let on = Date::from_ymd_opt(y, 12, 31).expect("valid");
                if on > registered_on {
                    let grade = self.grade4(r).into();
                    out.evaluations.push(CreditEvaluation {
                        uscc,
                        kind: EvaluationKind::Composite,
                        source: "NPCIC".into(),
                        evaluated_on: on,
                        grade,
                    });
                }
            }
        }
        if self.dept != "MR" && r.chance(0.6) {
            let on = Date::from_ymd_opt(ctx.until.year() - 1, 6, 30).expect("valid");
            if on > registered_on {
                let grade = self.grade4(r).into();
                out.evaluations.push(CreditEvaluation {
                    uscc,
                    kind: EvaluationKind::Industry,
                    source: self.dept.into(),
                    evaluated_on: on,
                    grade,
                });
            }
        }
        if self.e.company_like && r.chance(0.03) {
            let on = r.date_between(
                ctx.until.checked_sub_months(Months::new(18)).expect("valid").max(registered_on),
                ctx.until,
            );
            let w: &[(&'static str, u32)] = match self.conduct {
                Conduct::Clean => &[("AAA", 10), ("AA", 40), ("A", 40), ("BBB", 10)],
                Conduct::Occasional => &[("A", 30), ("BBB", 40), ("BB", 25), ("B", 5)],
                Conduct::Repeat => &[("BB", 30), ("B", 40), ("CCC", 20), ("CC", 7), ("C", 3)],
            };
            let agency = ["中诚信", "联合资信", "大公国际", "东方金诚"][r.below(4) as usize];
            out.evaluations.push(CreditEvaluation {
                uscc,
                kind: EvaluationKind::Market,
                source: agency.into(),
                evaluated_on: on,
                grade: (*r.pick(w)).into(),
            });
        }
    }
}

/// One person may hold a role once per entity and start date.
fn dedupe_roles(out: &mut Batch, uscc: Uscc) {
    let start = out.roles.iter().rposition(|r| r.uscc != uscc).map_or(0, |p| p + 1);
    let mut seen: Vec<(PersonId, RoleKind, Date)> = Vec::new();
    let mut k = start;
    while k < out.roles.len() {
        let r = &out.roles[k];
        let key = (r.person_id, r.role, r.since);
        if seen.contains(&key) {
            out.roles.remove(k);
        } else {
            seen.push(key);
            k += 1;
        }
    }
}

/// Officers per department and city, proportional to the city's expected
/// entities, at least six per city so joint visits can be staffed even
/// after avoidance.
fn gen_officers(seed: u64, entities: u64, pool: &[PersonId]) -> (Vec<Officer>, Vec<Person>, Vec<OfficerRelation>) {
    let total_weight: u32 = CITY_WEIGHTS.iter().map(|c| c.1).sum();
    let mut officers = Vec::new();
    let mut persons = Vec::new();
    let mut relations = Vec::new();
    let mut n = 0u64;
    for (dept, _, per_10k) in DEPARTMENTS {
        let items: Vec<(&str, bool)> = ITEMS.iter().filter(|i| i.1 == *dept).map(|i| (i.0, i.4.is_some())).collect();
        for (city, w) in CITY_WEIGHTS {
            let expected = entities as f64 * f64::from(*w) / f64::from(total_weight) * f64::from(*per_10k) / 10_000.0;
            let count = (expected.round() as u64).max(6);
            for k in 0..count {
                let mut r = Rng::new(seed, 3, n);
                let qualifications: Vec<String> = items
                    .iter()
                    .enumerate()
                    // Key-field items need a specialist qualification.
                    .filter(|(j, (_, key))| *j == 0 || r.chance(if *key { 0.6 } else { 0.95 }))
                    .map(|(_, (s, _))| s.to_string())
                    .collect();
                let own = if r.chance(0.02) && !pool.is_empty() {
                    pool[r.below(pool.len() as u64) as usize]
                } else {
                    let id = person_id(seed, 3, n);
                    persons.push(Person { person_id: id, region: *city });
                    id
                };
                let officer_id = format!("{dept}-{city}-{:04}", k + 1);
                for j in 0..r.below(3) {
                    let rel_person = if r.chance(0.05) && !pool.is_empty() {
                        pool[r.below(pool.len() as u64) as usize]
                    } else {
                        let id = person_id(seed, 4, n * 4 + j);
                        persons.push(Person { person_id: id, region: *city });
                        id
                    };
                    if rel_person != own
                        && !relations
                            .iter()
                            .any(|x: &OfficerRelation| x.officer_id == officer_id && x.person_id == rel_person)
                    {
                        let relation = *r.pick(&[
                            (Relation::Spouse, 3),
                            (Relation::Parent, 3),
                            (Relation::Child, 2),
                            (Relation::Sibling, 2),
                            (Relation::Other, 1),
                        ]);
                        relations.push(OfficerRelation {
                            officer_id: officer_id.clone(),
                            person_id: rel_person,
                            relation,
                        });
                    }
                }
                officers.push(Officer {
                    officer_id,
                    department: dept.to_string(),
                    region: *city,
                    qualifications,
                    active: r.chance(0.95),
                    person_id: own,
                });
                n += 1;
            }
        }
    }
    (officers, persons, relations)
}

/// Writes a dataset of `opts.entities` entities to `opts.out`, calling
/// `progress` with the number of entities done after each chunk.
pub fn generate(opts: &GenerateOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<GenerateSummary, FileError> {
    let dir = &opts.out;
    std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, e))?;
    remove_other_format(dir, opts.format)?;
    let pool_size = (opts.entities / 25).max(50) as usize;
    let pool: Vec<PersonId> = (0..pool_size as u64).map(|j| person_id(opts.seed, 2, j)).collect();
    let (officers, officer_persons, relations) = gen_officers(opts.seed, opts.entities, &pool);
    let ctx = Context::new(opts, &officers, pool_size);

    let departments: Vec<Department> =
        DEPARTMENTS.iter().map(|(c, n, _)| Department { code: c.to_string(), name: n.to_string() }).collect();
    let items: Vec<InspectionItem> = ITEMS
        .iter()
        .map(|(code, dept, name, industries, key)| InspectionItem {
            item_code: code.to_string(),
            department: dept.to_string(),
            name: name.to_string(),
            industries: super::table::split_list(industries),
            key_field: *key,
        })
        .collect();
    write_table(dir, opts.format, &departments)?;
    write_table(dir, opts.format, &items)?;
    write_table(dir, opts.format, &officers)?;
    write_table(dir, opts.format, &relations)?;

    let mut sinks = Sinks::create(dir, opts.format)?;
    let pool_persons: Vec<Person> = pool
        .iter()
        .enumerate()
        .map(|(j, p)| Person { person_id: *p, region: CITY_WEIGHTS[j % CITY_WEIGHTS.len()].0 })
        .collect();
    sinks.persons.write(&pool_persons)?;
    sinks.persons.write(&officer_persons)?;
    let mut rows = Counts::default();
    rows.persons += (pool_persons.len() + officer_persons.len()) as u64;

    let chunk = opts.chunk.max(1);
    let mut start = 0;
    while start < opts.entities {
        let end = (start + chunk).min(opts.entities);
        // Sub-chunks in parallel, concatenated in index order.
        let parts: Vec<Batch> = (start..end)
            .collect::<Vec<_>>()
            .par_chunks(4096)
            .map(|ids| {
                let mut b = Batch::default();
                for &i in ids {
                    gen_entity(&ctx, i, &mut b);
                }
                b
            })
            .collect();
        let mut batch = Batch::default();
        for p in parts {
            batch.append(p);
        }
        sinks.write(&batch, &mut rows)?;
        progress(end);
        start = end;
    }
    sinks.finish()?;
    Ok(GenerateSummary {
        rows: vec![
            ("entities", rows.entities),
            ("persons", rows.persons),
            ("roles", rows.roles),
            ("evaluations", rows.evaluations),
            ("penalties", rows.penalties),
            ("abnormal_listings", rows.abnormal),
            ("complaints", rows.complaints),
            ("commitments", rows.commitments),
            ("inspections", rows.inspections),
            ("repairs", rows.repairs),
            ("departments", departments.len() as u64),
            ("inspection_items", items.len() as u64),
            ("officers", officers.len() as u64),
            ("officer_relations", relations.len() as u64),
        ],
    })
}

/// A dataset directory holds one format; stale files of the other format
/// from an earlier run would make the dataset ambiguous.
fn remove_other_format(dir: &Path, format: Format) -> Result<(), FileError> {
    let other = match format {
        Format::Csv => Format::Parquet,
        Format::Parquet => Format::Csv,
    };
    for (table, _) in super::table::TABLES {
        let p = dir.join(format!("{table}.{}", other.extension()));
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| FileError::new(&p, e))?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct Counts {
    entities: u64,
    persons: u64,
    roles: u64,
    evaluations: u64,
    penalties: u64,
    abnormal: u64,
    complaints: u64,
    commitments: u64,
    inspections: u64,
    repairs: u64,
}

struct Sinks {
    entities: TableSink,
    persons: TableSink,
    roles: TableSink,
    evaluations: TableSink,
    penalties: TableSink,
    abnormal: TableSink,
    complaints: TableSink,
    commitments: TableSink,
    inspections: TableSink,
    repairs: TableSink,
}

impl Sinks {
    fn create(dir: &Path, f: Format) -> Result<Sinks, FileError> {
        Ok(Sinks {
            entities: TableSink::create::<MarketEntity>(dir, f)?,
            persons: TableSink::create::<Person>(dir, f)?,
            roles: TableSink::create::<Role>(dir, f)?,
            evaluations: TableSink::create::<CreditEvaluation>(dir, f)?,
            penalties: TableSink::create::<Penalty>(dir, f)?,
            abnormal: TableSink::create::<AbnormalListing>(dir, f)?,
            complaints: TableSink::create::<Complaint>(dir, f)?,
            commitments: TableSink::create::<Commitment>(dir, f)?,
            inspections: TableSink::create::<InspectionRecord>(dir, f)?,
            repairs: TableSink::create::<RepairApplication>(dir, f)?,
        })
    }

    fn write(&mut self, b: &Batch, c: &mut Counts) -> Result<(), FileError> {
        fn w<T: TableRow>(s: &mut TableSink, rows: &[T], n: &mut u64) -> Result<(), FileError> {
            *n += rows.len() as u64;
            s.write(rows)
        }
        w(&mut self.entities, &b.entities, &mut c.entities)?;
        w(&mut self.persons, &b.persons, &mut c.persons)?;
        w(&mut self.roles, &b.roles, &mut c.roles)?;
        w(&mut self.evaluations, &b.evaluations, &mut c.evaluations)?;
        w(&mut self.penalties, &b.penalties, &mut c.penalties)?;
        w(&mut self.abnormal, &b.abnormal, &mut c.abnormal)?;
        w(&mut self.complaints, &b.complaints, &mut c.complaints)?;
        w(&mut self.commitments, &b.commitments, &mut c.commitments)?;
        w(&mut self.inspections, &b.inspections, &mut c.inspections)?;
        w(&mut self.repairs, &b.repairs, &mut c.repairs)
    }

    fn finish(self) -> Result<(), FileError> {
        self.entities.finish()?;
        self.persons.finish()?;
        self.roles.finish()?;
        self.evaluations.finish()?;
        self.penalties.finish()?;
        self.abnormal.finish()?;
        self.complaints.finish()?;
        self.commitments.finish()?;
        self.inspections.finish()?;
        self.repairs.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_is_accurate() {
        for x in [0.0, 0.1, 0.5, 1.0, 2.5, 10.0, 30.0] {
            let rel = (exp_neg(x) - (-x).exp()).abs() / (-x).exp();
            assert!(rel < 1e-12, "x={x}: {} vs {}", exp_neg(x), (-x).exp());
        }
    }

    #[test]
    fn org_bodies_are_unique_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..50_000 {
            for legacy in [true, false] {
                let b = org_body(7, i, legacy);
                assert!(seen.insert(b), "duplicate body at {i}");
                Uscc::assemble(b'9', b'1', 370102, b).unwrap();
            }
        }
    }
}
