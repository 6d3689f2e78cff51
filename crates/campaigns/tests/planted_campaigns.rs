//! Clustering measured against planted campaigns: the synthetic benchmark at 20 000 posts.

use breakwater_campaigns::bench::{generate, pairwise_scores, BenchConfig, BenchSet};
use breakwater_campaigns::cluster::{ClusterConfig, Clusterer, Post};
use breakwater_campaigns::template::Template;
use std::collections::HashMap;

fn cluster(set: &BenchSet, merge_on_links: bool) -> Clusterer {
    let mut clusterer = Clusterer::new(ClusterConfig {
        merge_on_links,
        ..ClusterConfig::default()
    })
    .unwrap();
    for item in &set.items {
        clusterer.add_post(&Post {
            id: &item.id,
            text: &item.text,
            links: &item.links,
            account: Some(&item.account),
            seen_at: Some(item.seen_at),
        });
    }
    clusterer
}

#[test]
fn finds_planted_campaigns_in_20000_posts() {
    let set = generate(&BenchConfig {
        items: 20_000,
        ..BenchConfig::default()
    });
    let truth = set.truth();

    // Text alone, as the datasketch peer sees it.
    let text_only = cluster(&set, false);
    let scores = pairwise_scores(&text_only.assignments(), &truth);
    eprintln!("text only: {scores:?}");
    assert!(scores.f1 >= 0.95, "{scores:?}");

    // With shared phones, handles and links merging campaigns.
    let clusterer = cluster(&set, true);
    let scores = pairwise_scores(&clusterer.assignments(), &truth);
    eprintln!("with links: {scores:?}");
    assert!(scores.f1 >= 0.95, "{scores:?}");
    assert!(scores.recall >= scores.precision - 0.05, "{scores:?}");

    // The largest campaign carries its planted contacts, accounts and times, and its template
    // keeps the campaign's shared words with the phone as a slot.
    let largest = &clusterer.campaigns(2)[0];
    let by_id: HashMap<&str, _> = set.items.iter().map(|i| (i.id.as_str(), i)).collect();
    let planted = by_id[largest.members[0].as_str()].campaign;
    assert!(planted.is_some());
    let members: Vec<_> = largest.members.iter().map(|m| by_id[m.as_str()]).collect();
    assert!(members.iter().filter(|m| m.campaign == planted).count() * 100 >= members.len() * 95);
    assert!(!largest.links.is_empty() && !largest.accounts.is_empty());
    assert_eq!(largest.first_seen, members.iter().map(|m| m.seen_at).min());
    let texts: Vec<&str> = members.iter().map(|m| m.text.as_str()).collect();
    let template = Template::build(&texts).unwrap();
    assert!(template
        .slots
        .iter()
        .any(|s| s.name == "phone" || s.name == "handle" || s.name == "url"));
    assert!(template.text.len() > 20, "{}", template.text);
}
