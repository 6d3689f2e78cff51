//! Incremental clustering of posts into campaigns.
//!
//! Each post is tokenised (volatile slots masked), shingled and MinHashed; banded LSH gives
//! candidates in O(bands); a candidate joins the post's campaign only if the Jaccard
//! similarity of the two posts' shingle sets reaches the threshold (banding alone lets
//! through pairs well under it). The sets are kept as sorted 32-bit shingle hashes, which
//! take a quarter of the room of 128-permutation signatures and give the exact similarity
//! instead of an estimate that is off by ±0.04 (one standard deviation at 0.5); the
//! signature is only needed for the bands, and is not kept.
//!
//! Posts that share a strong link (phone, handle, URL, e-mail, wallet, image hash) join too,
//! whatever their text. Campaigns are the sets of a union-find over posts, so the relation
//! is transitive: a template that drifts post by post stays one campaign.
//!
//! A bucket keeps only its first few posts: any one of them is enough to reach a campaign,
//! and a bucket that a campaign of ten thousand posts falls into stays a constant cost.
//!
//! The clusterer lives in memory. To rebuild it (after a restart), add the same posts in the
//! same order: the same configuration gives the same campaigns and identifiers.

use crate::buckets::{BucketTable, EMPTY};
use crate::hash::{hash_bytes, Premixed};
use crate::link::Link;
use crate::minhash::{band_key, intersection_size, lsh_params, MinHasher};
use crate::tokens::{shingles, tokens_of, Buffers, Token};
use breakwater_text::normalize::fold;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::{Entry, HashMap};
use std::fmt;

/// How posts are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Jaccard similarity of shingle sets at or above which two posts are one template.
    /// Default 0.5.
    pub threshold: f64,
    /// MinHash permutations. Default 128.
    pub num_perm: usize,
    /// Tokens per shingle. Default 3.
    pub shingle: usize,
    /// Merge campaigns that share a strong link. Default true.
    pub merge_on_links: bool,
    /// Seed of the permutations: keep it fixed so that campaigns are reproducible.
    pub seed: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            threshold: 0.5,
            num_perm: 128,
            shingle: 3,
            merge_on_links: true,
            seed: 0x4272_6561_6B77_6174,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("threshold must be in (0, 1], got {0}")]
    Threshold(f64),
    #[error("num_perm must be between 8 and 1024, got {0}")]
    NumPerm(usize),
    #[error("shingle must be between 1 and 8 tokens, got {0}")]
    Shingle(usize),
}

impl ClusterConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::Threshold(self.threshold));
        }
        if !(8..=1024).contains(&self.num_perm) {
            return Err(ConfigError::NumPerm(self.num_perm));
        }
        if !(1..=8).contains(&self.shingle) {
            return Err(ConfigError::Shingle(self.shingle));
        }
        Ok(())
    }

    /// Bands and rows of the LSH index for this threshold and signature size.
    pub fn lsh_params(&self) -> (usize, usize) {
        lsh_params(self.threshold, self.num_perm)
    }
}

/// A campaign's identifier: the insertion number of its first-added post. It never changes
/// while the campaign grows; when two campaigns merge, the merged one keeps the smaller
/// identifier and [`Clusterer::resolve`] maps the other to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub u32);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One post to cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct Post<'a> {
    /// The caller's identifier; adding an identifier twice returns its campaign unchanged.
    pub id: &'a str,
    pub text: &'a str,
    /// Strong links found in or attached to the post.
    pub links: &'a [Link],
    /// The account that posted it.
    pub account: Option<&'a str>,
    /// When it was posted or seen, in Unix milliseconds.
    pub seen_at: Option<i64>,
}

/// A campaign as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    /// Member posts' identifiers, in the order they were added.
    pub members: Vec<String>,
    /// Strong links seen in any member, sorted.
    pub links: Vec<Link>,
    /// Accounts that posted members, sorted.
    pub accounts: Vec<String>,
    /// Unix milliseconds of the earliest and latest member with a time.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// What a union-find root knows about its campaign.
#[derive(Debug, Clone, Default)]
struct CampaignData {
    /// Members, once there are two or more; a campaign of one is just its root, and keeping
    /// no list for it saves an allocation per post.
    members: Vec<u32>,
    /// Interned link numbers, sorted and unique.
    links: Vec<u32>,
    /// Interned account numbers, sorted and unique.
    accounts: Vec<u32>,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
}

/// Reused buffers, so that adding a post allocates little beyond what it stores.
#[derive(Debug, Default)]
struct Scratch {
    tokens: Vec<Token>,
    buffers: Buffers,
    hashes: Vec<u64>,
    shingles: Vec<u64>,
    signature: Vec<u32>,
    checked: Vec<u32>,
}

/// Clusters posts into campaigns, one post at a time.
///
/// Memory per post: its shingle set (4 bytes a shingle), its share of the bucket table
/// (about 16 bytes a band), its identifier and a few words; a server keeps one clusterer
/// per organisation.
#[derive(Debug)]
pub struct Clusterer {
    config: ClusterConfig,
    hasher: MinHasher,
    bands: usize,
    rows: usize,
    /// Identifiers, end to end, and where each ends: one allocation for all of them.
    id_text: String,
    id_ends: Vec<usize>,
    /// Identifier hash → post; identifiers whose hash is taken go to `id_collisions`.
    id_index: HashMap<u64, u32, Premixed>,
    id_collisions: HashMap<String, u32>,
    /// Shingle sets (sorted, unique 32-bit hashes), end to end, and where each ends.
    shingle_sets: Vec<u32>,
    shingle_ends: Vec<usize>,
    parent: Vec<u32>,
    /// Campaign size at roots.
    size: Vec<u32>,
    /// First-added member at roots: the campaign's identifier.
    oldest: Vec<u32>,
    data: Vec<CampaignData>,
    buckets: BucketTable,
    /// Band keys of the post being added.
    band_keys: Vec<u64>,
    /// Link → interned link number; each link remembers the first post it was seen in.
    link_index: HashMap<Link, u32>,
    link_values: Vec<Link>,
    link_first: Vec<u32>,
    account_index: HashMap<String, u32>,
    account_names: Vec<String>,
    scratch: Scratch,
}

impl Clusterer {
    pub fn new(config: ClusterConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let (bands, rows) = config.lsh_params();
        Ok(Clusterer {
            hasher: MinHasher::new(config.num_perm, config.seed),
            bands,
            rows,
            config,
            id_text: String::new(),
            id_ends: Vec::new(),
            id_index: HashMap::default(),
            id_collisions: HashMap::new(),
            shingle_sets: Vec::new(),
            shingle_ends: Vec::new(),
            parent: Vec::new(),
            size: Vec::new(),
            oldest: Vec::new(),
            data: Vec::new(),
            buckets: BucketTable::default(),
            band_keys: Vec::new(),
            link_index: HashMap::new(),
            link_values: Vec::new(),
            link_first: Vec::new(),
            account_index: HashMap::new(),
            account_names: Vec::new(),
            scratch: Scratch::default(),
        })
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Posts added so far.
    pub fn len(&self) -> usize {
        self.id_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_ends.is_empty()
    }

    /// The caller's identifier of post `item`.
    fn id(&self, item: u32) -> &str {
        let end = self.id_ends[item as usize];
        let start = if item == 0 {
            0
        } else {
            self.id_ends[item as usize - 1]
        };
        &self.id_text[start..end]
    }

    fn lookup(&self, id: &str) -> Option<u32> {
        match self.id_index.get(&hash_bytes(id.as_bytes())) {
            Some(&item) if self.id(item) == id => Some(item),
            Some(_) => self.id_collisions.get(id).copied(),
            None => None,
        }
    }

    /// Adds a post by its text and links, and returns its campaign.
    pub fn add(&mut self, id: &str, text: &str, links: &[Link]) -> CampaignId {
        self.add_post(&Post {
            id,
            text,
            links,
            ..Post::default()
        })
    }

    /// Adds a post and returns its campaign (which may have just merged with others).
    pub fn add_post(&mut self, post: &Post<'_>) -> CampaignId {
        if let Some(known) = self.lookup(post.id) {
            return self.campaign_id_of(known);
        }
        let folded = fold(post.text);
        let s = &mut self.scratch;
        tokens_of(&folded, &mut s.tokens, &mut s.buffers);
        shingles(
            &s.tokens,
            self.config.shingle,
            &mut s.hashes,
            &mut s.shingles,
        );
        let n = self.config.num_perm;
        s.signature.resize(n, 0);
        self.hasher.signature_into(&s.shingles, &mut s.signature);
        let has_text = !s.shingles.is_empty();
        let signature = std::mem::take(&mut s.signature);
        let item = self.push_post(post);
        let start = self.shingle_sets.len();
        self.shingle_sets.extend(
            self.scratch
                .shingles
                .iter()
                .map(|&x| (x ^ (x >> 32)) as u32),
        );
        self.shingle_sets[start..].sort_unstable();
        let unique = dedup_sorted(&mut self.shingle_sets[start..]);
        self.shingle_sets.truncate(start + unique);
        self.shingle_ends.push(self.shingle_sets.len());
        if has_text {
            self.insert_into_lsh(item, &signature);
        }
        self.scratch.signature = signature;
        for link in post.links {
            let number = self.intern_link(link, item);
            let first = self.link_first[number as usize];
            if self.config.merge_on_links && first != item {
                self.union(first, item);
            }
        }
        self.campaign_id_of(item)
    }

    /// Records a post's identity and metadata as a campaign of its own.
    fn push_post(&mut self, post: &Post<'_>) -> u32 {
        let item = self.len() as u32;
        match self.id_index.entry(hash_bytes(post.id.as_bytes())) {
            Entry::Vacant(e) => {
                e.insert(item);
            }
            Entry::Occupied(_) => {
                self.id_collisions.insert(post.id.to_string(), item);
            }
        }
        self.id_text.push_str(post.id);
        self.id_ends.push(self.id_text.len());
        self.parent.push(item);
        self.size.push(1);
        self.oldest.push(item);
        let mut data = CampaignData {
            first_seen: post.seen_at,
            last_seen: post.seen_at,
            ..CampaignData::default()
        };
        if let Some(account) = post.account {
            let next = self.account_names.len() as u32;
            let number = *self
                .account_index
                .entry(account.to_string())
                .or_insert_with(|| {
                    self.account_names.push(account.to_string());
                    next
                });
            data.accounts.push(number);
        }
        self.data.push(data);
        item
    }

    /// The number of a link, interning it (first seen in `item`) if it is new, and records it
    /// on the item's campaign.
    fn intern_link(&mut self, link: &Link, item: u32) -> u32 {
        let number = match self.link_index.get(link) {
            Some(&number) => number,
            None => {
                let number = self.link_values.len() as u32;
                self.link_index.insert(link.clone(), number);
                self.link_values.push(link.clone());
                self.link_first.push(item);
                number
            }
        };
        let root = self.find(item) as usize;
        let links = &mut self.data[root].links;
        if let Err(at) = links.binary_search(&number) {
            links.insert(at, number);
        }
        number
    }

    fn insert_into_lsh(&mut self, item: u32, signature: &[u32]) {
        let mut keys = std::mem::take(&mut self.band_keys);
        keys.clear();
        keys.extend(
            signature
                .chunks_exact(self.rows)
                .take(self.bands)
                .enumerate()
                .map(|(band, rows)| band_key(band, rows)),
        );
        // Independent reads first: the memory accesses of all bands overlap instead of
        // waiting for each other behind the verification work.
        let mut warm = 0u32;
        for &key in &keys {
            warm ^= self.buckets.peek(key)[0];
        }
        std::hint::black_box(warm);
        let mut checked = std::mem::take(&mut self.scratch.checked);
        checked.clear();
        for &key in &keys {
            let Some(reps) = self.buckets.get_or_insert(key, item) else {
                continue;
            };
            let mut has_room = false;
            for &rep in &reps {
                if rep == EMPTY {
                    has_room = true;
                    continue;
                }
                if checked.contains(&rep) || self.find(rep) == self.find(item) {
                    continue;
                }
                checked.push(rep);
                if self.similar(rep, item) {
                    self.union(rep, item);
                }
            }
            if has_room {
                self.buckets.add_rep(key, item);
            }
        }
        self.scratch.checked = checked;
        self.band_keys = keys;
    }

    fn shingle_set(&self, item: u32) -> &[u32] {
        let end = self.shingle_ends[item as usize];
        let start = match item {
            0 => 0,
            _ => self.shingle_ends[item as usize - 1],
        };
        &self.shingle_sets[start..end]
    }

    /// Whether two posts' shingle sets reach the threshold.
    fn similar(&self, a: u32, b: u32) -> bool {
        let (a, b) = (self.shingle_set(a), self.shingle_set(b));
        let (small, large) = (a.len().min(b.len()), a.len().max(b.len()));
        // J ≤ |small| / |large|: most non-matches stop here.
        if large == 0 || (small as f64) < self.config.threshold * large as f64 {
            return false;
        }
        let shared = intersection_size(a, b);
        shared as f64 >= self.config.threshold * (a.len() + b.len() - shared) as f64
    }

    /// The root of a post's set, halving paths on the way.
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// The root of a post's set, without compressing paths (for `&self` readers; union by
    /// size keeps paths under log₂ n).
    fn root(&self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        // `ra` absorbs `rb`.
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        self.oldest[ra as usize] = self.oldest[ra as usize].min(self.oldest[rb as usize]);
        let absorbed = std::mem::take(&mut self.data[rb as usize]);
        let into = &mut self.data[ra as usize];
        if into.members.is_empty() {
            into.members.push(ra);
        }
        if absorbed.members.is_empty() {
            into.members.push(rb);
        } else {
            into.members.extend(absorbed.members);
        }
        merge_sorted(&mut into.links, &absorbed.links);
        merge_sorted(&mut into.accounts, &absorbed.accounts);
        into.first_seen = min_opt(into.first_seen, absorbed.first_seen);
        into.last_seen = max_opt(into.last_seen, absorbed.last_seen);
    }

    fn campaign_id_of(&self, item: u32) -> CampaignId {
        CampaignId(self.oldest[self.root(item) as usize])
    }

    /// The insertion number of a post (0 for the first added), by the caller's identifier.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.lookup(id).map(|item| item as usize)
    }

    /// The campaign of a post, by the caller's identifier.
    pub fn campaign_of(&self, id: &str) -> Option<CampaignId> {
        self.lookup(id).map(|item| self.campaign_id_of(item))
    }

    /// The current identifier of a campaign that may have merged into another since.
    pub fn resolve(&self, id: CampaignId) -> Option<CampaignId> {
        ((id.0 as usize) < self.len()).then(|| self.campaign_id_of(id.0))
    }

    /// Number of posts in a campaign.
    pub fn size(&self, id: CampaignId) -> usize {
        if (id.0 as usize) < self.len() {
            self.size[self.root(id.0) as usize] as usize
        } else {
            0
        }
    }

    /// A campaign's members, links, accounts and times.
    pub fn campaign(&self, id: CampaignId) -> Option<Campaign> {
        if id.0 as usize >= self.len() {
            return None;
        }
        Some(self.snapshot(self.root(id.0)))
    }

    fn snapshot(&self, root: u32) -> Campaign {
        let data = &self.data[root as usize];
        let mut members = if data.members.is_empty() {
            vec![root]
        } else {
            data.members.clone()
        };
        members.sort_unstable();
        let mut links: Vec<Link> = data
            .links
            .iter()
            .map(|&l| self.link_values[l as usize].clone())
            .collect();
        links.sort();
        let mut accounts: Vec<String> = data
            .accounts
            .iter()
            .map(|&a| self.account_names[a as usize].clone())
            .collect();
        accounts.sort();
        Campaign {
            id: CampaignId(self.oldest[root as usize]),
            members: members
                .into_iter()
                .map(|m| self.id(m).to_string())
                .collect(),
            links,
            accounts,
            first_seen: data.first_seen,
            last_seen: data.last_seen,
        }
    }

    /// Campaigns of at least `min_size` posts, largest first (then oldest first).
    pub fn campaigns(&self, min_size: usize) -> Vec<Campaign> {
        let mut roots: Vec<u32> = (0..self.len() as u32)
            .filter(|&i| self.parent[i as usize] == i && self.size[i as usize] as usize >= min_size)
            .collect();
        roots.sort_by_key(|&r| {
            (
                std::cmp::Reverse(self.size[r as usize]),
                self.oldest[r as usize],
            )
        });
        roots.into_iter().map(|r| self.snapshot(r)).collect()
    }

    /// The campaign of every post, in the order the posts were added.
    pub fn assignments(&self) -> Vec<CampaignId> {
        (0..self.len() as u32)
            .map(|i| self.campaign_id_of(i))
            .collect()
    }
}

/// Removes repeats from a sorted slice, moving the unique values to the front; returns
/// how many there are.
fn dedup_sorted(values: &mut [u32]) -> usize {
    let mut unique = 0;
    for i in 0..values.len() {
        if i == 0 || values[i] != values[unique - 1] {
            values[unique] = values[i];
            unique += 1;
        }
    }
    unique
}

fn merge_sorted(into: &mut Vec<u32>, from: &[u32]) {
    if from.is_empty() {
        return;
    }
    into.extend_from_slice(from);
    into.sort_unstable();
    into.dedup();
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(s: &str) -> Link {
        s.parse().unwrap()
    }

    #[test]
    fn one_template_with_new_slots_is_one_campaign() {
        let mut c = Clusterer::new(ClusterConfig::default()).unwrap();
        let a = c.add(
            "a",
            "Boat to UK every night from Calais, 100% safe, only £1500, call +44 7911 123456",
            &[],
        );
        let b = c.add(
            "b",
            "B0AT to UK every n1ght from Calais!! 100% safe, only 2000€, call 07700 900123 🚤",
            &[],
        );
        let other = c.add(
            "c",
            "Ferry tickets to Dover are on sale at the port office from Monday",
            &[],
        );
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(c.size(a), 2);
        assert_eq!(
            c.add("a", "anything", &[]),
            a,
            "adding an id twice is a no-op"
        );
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn shared_links_merge_campaigns_and_keep_the_older_id() {
        let mut c = Clusterer::new(ClusterConfig::default()).unwrap();
        let first = c.add_post(&Post {
            id: "p1",
            text: "Crossing tonight, message me",
            links: &[link("phone:+447911123456")],
            account: Some("acct1"),
            seen_at: Some(2_000),
        });
        let second = c.add_post(&Post {
            id: "p2",
            text: "Jobs in the UK with papers, good pay",
            links: &[link("handle:telegram:boza")],
            account: Some("acct2"),
            seen_at: Some(1_000),
        });
        assert_ne!(first, second);
        let merged = c.add_post(&Post {
            id: "p3",
            text: "Something else entirely about football",
            links: &[link("handle:telegram:boza"), link("phone:+447911123456")],
            account: Some("acct3"),
            seen_at: Some(3_000),
        });
        assert_eq!(merged, first);
        assert_eq!(c.resolve(second), Some(first));
        let campaign = c.campaign(merged).unwrap();
        assert_eq!(campaign.members, ["p1", "p2", "p3"]);
        assert_eq!(campaign.accounts, ["acct1", "acct2", "acct3"]);
        assert_eq!(
            campaign
                .links
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["phone:+447911123456", "handle:telegram:boza"]
        );
        assert_eq!(
            (campaign.first_seen, campaign.last_seen),
            (Some(1_000), Some(3_000))
        );
        assert_eq!(c.campaigns(2).len(), 1);
    }

    #[test]
    fn links_are_kept_but_do_not_merge_when_disabled() {
        let config = ClusterConfig {
            merge_on_links: false,
            ..ClusterConfig::default()
        };
        let mut c = Clusterer::new(config).unwrap();
        let a = c.add("a", "first post", &[link("phone:+447911123456")]);
        let b = c.add("b", "second, unrelated", &[link("phone:+447911123456")]);
        assert_ne!(a, b);
        assert_eq!(c.campaign(a).unwrap().links.len(), 1);
    }

    #[test]
    fn rejects_bad_configs() {
        for (config, message) in [
            (
                ClusterConfig {
                    threshold: 0.0,
                    ..ClusterConfig::default()
                },
                "threshold must be in (0, 1], got 0",
            ),
            (
                ClusterConfig {
                    num_perm: 4,
                    ..ClusterConfig::default()
                },
                "num_perm must be between 8 and 1024, got 4",
            ),
        ] {
            assert_eq!(Clusterer::new(config).unwrap_err().to_string(), message);
        }
    }
}
