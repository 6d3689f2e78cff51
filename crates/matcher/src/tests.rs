use super::*;
use breakwater_core::EntityKind;

fn bank(id: i64, name: &str, threshold: u32) -> BankInfo {
    BankInfo {
        id,
        name: name.into(),
        category: Some(Category::SmugglingService),
        verdict: MatchVerdict::Review,
        pdq_threshold: threshold,
        enabled: true,
        disabled_until: None,
        expires_at: None,
        dispute_limit: 2,
    }
}

fn entry(id: i64, bank_id: i64, kind: SignalKind, value: &str) -> SignalEntry {
    SignalEntry {
        id,
        bank_id,
        signal: Signal::parse(kind, value).unwrap(),
        category: None,
        source: Some("unit".into()),
        expires_at: None,
        disputes: 0,
    }
}

fn entity(kind: EntityKind, value: &str) -> Entity {
    Entity {
        kind,
        value: value.into(),
        text: value.into(),
        start: 0,
        end: 1,
        country: None,
        platform: None,
        amount: None,
        currency: None,
        role: None,
    }
}

fn flip_bits(h: &PdqHash, n: usize) -> PdqHash {
    let mut out = *h;
    for k in 0..n {
        out.0[k / 8] ^= 1 << (k % 8);
    }
    out
}

fn image(name: &str, pdq: PdqHash) -> ImageHashes {
    ImageHashes {
        name: name.into(),
        md5: "0".repeat(32),
        sha256: "0".repeat(64),
        pdq: vec![pdq],
        quality: 100,
    }
}

#[test]
fn pdq_matches_within_each_banks_threshold() {
    let base = PdqHash([0x5a; 32]);
    let mut m = Matcher::new();
    m.set_banks([bank(1, "loose", 31), bank(2, "tight", 8)]);
    m.insert(entry(10, 1, SignalKind::Pdq, &base.to_hex()));
    m.insert(entry(20, 2, SignalKind::Pdq, &base.to_hex()));

    let near = [image("near.jpg", flip_bits(&base, 5))];
    let found = m.find(
        &MatchInput {
            images: &near,
            ..Default::default()
        },
        0,
    );
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|f| f.distance == Some(5)));
    assert_eq!(found[0].media.as_deref(), Some("near.jpg"));

    let far = [image("far.jpg", flip_bits(&base, 20))];
    let found = m.find(
        &MatchInput {
            images: &far,
            ..Default::default()
        },
        0,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].bank, "loose");
    assert_eq!(found[0].category, Some(Category::SmugglingService));

    let unrelated = [image("other.jpg", flip_bits(&base, 100))];
    assert!(m
        .find(
            &MatchInput {
                images: &unrelated,
                ..Default::default()
            },
            0
        )
        .is_empty());
}

#[test]
fn removal_expiry_and_disabled_banks_stop_matching() {
    let mut m = Matcher::new();
    let mut paused = bank(2, "paused", 31);
    paused.disabled_until = Some(1_000);
    m.set_banks([bank(1, "phones", 31), paused]);
    m.insert(entry(1, 1, SignalKind::Phone, "+447700900123"));
    let mut expiring = entry(2, 1, SignalKind::Handle, "telegram:boza_vip");
    expiring.expires_at = Some(500);
    m.insert(expiring);
    m.insert(entry(3, 2, SignalKind::Phone, "+447700900123"));

    let ents = [
        entity(EntityKind::Phone, "+447700900123"),
        entity(EntityKind::Handle, "telegram:boza_vip"),
    ];
    let input = MatchInput {
        entities: &ents,
        ..Default::default()
    };
    let banks_at = |m: &Matcher, now| -> Vec<String> {
        m.find(&input, now)
            .into_iter()
            .map(|f| format!("{}:{}", f.bank, f.signal_kind))
            .collect()
    };
    assert_eq!(banks_at(&m, 0), ["phones:phone", "phones:handle"]);
    assert_eq!(banks_at(&m, 600), ["phones:phone"]);
    // The pause is over: the second bank matches too.
    assert_eq!(banks_at(&m, 2_000).len(), 2);
    m.remove(1);
    assert_eq!(banks_at(&m, 2_000), ["paused:phone"]);
    m.apply(3, None);
    assert!(banks_at(&m, 2_000).is_empty());
    assert!(m.is_empty() || m.len() == 1);
}

#[test]
fn urls_match_their_domain_and_parents() {
    let mut m = Matcher::new();
    m.set_banks([bank(1, "sites", 31)]);
    m.insert(entry(1, 1, SignalKind::Domain, "boats-uk.com"));
    m.insert(entry(
        2,
        1,
        SignalKind::Url,
        "http://offers.boats-uk.com/channel",
    ));
    let ents = [entity(
        EntityKind::Url,
        "https://Offers.Boats-UK.com/channel#x",
    )];
    let found = m.find(
        &MatchInput {
            entities: &ents,
            ..Default::default()
        },
        0,
    );
    let kinds: Vec<SignalKind> = found.iter().map(|f| f.signal_kind).collect();
    assert_eq!(kinds, [SignalKind::Url, SignalKind::Domain]);
    // A lookalike domain does not match.
    let ents = [entity(EntityKind::Url, "https://notboats-uk.com/")];
    assert!(m
        .find(
            &MatchInput {
                entities: &ents,
                ..Default::default()
            },
            0
        )
        .is_empty());
}

#[test]
fn phrases_match_folded_whole_words() {
    let mut m = Matcher::new();
    m.set_banks([bank(1, "phrases", 31)]);
    m.insert(entry(1, 1, SignalKind::Phrase, "guaranteed boat"));
    m.insert(entry(2, 1, SignalKind::Phrase, "偷渡"));
    let find = |m: &Matcher, text: &str| {
        m.find(
            &MatchInput {
                text,
                ..Default::default()
            },
            0,
        )
        .len()
    };
    assert_eq!(find(&m, "100% GUARANTEED  b0at to the UK"), 1);
    assert_eq!(find(&m, "g.u.a.r.a.n.t.e.e.d boat"), 1);
    assert_eq!(find(&m, "guaranteed boatyard"), 0);
    assert_eq!(find(&m, "联系我们偷渡去英国"), 1);
    m.remove(1);
    assert_eq!(find(&m, "guaranteed boat"), 0);
}

#[test]
fn exact_media_hashes_match_and_rank_first() {
    let mut m = Matcher::new();
    m.set_banks([bank(1, "known", 31)]);
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    m.insert(entry(1, 1, SignalKind::Md5, md5));
    m.insert(entry(2, 1, SignalKind::Phone, "+447700900123"));
    let mut img = image("a.png", PdqHash([0; 32]));
    img.md5 = md5.into();
    let imgs = [img];
    let ents = [entity(EntityKind::Phone, "+447700900123")];
    let found = m.find(
        &MatchInput {
            images: &imgs,
            entities: &ents,
            text: "",
        },
        0,
    );
    assert_eq!(found[0].signal_kind, SignalKind::Md5);
    assert_eq!(found[1].signal_kind, SignalKind::Phone);
}

#[test]
fn signal_files_parse_or_report_every_bad_row() {
    let csv = "kind,value,category,source,expires_at\n\
               phone,+44 7700 900123,smuggling_service,unit,2030-01-01\n\
               md5,D41D8CD98F00B204E9800998ECF8427E,,,\n";
    let rows = parse_signal_file(csv.as_bytes(), FileFormat::Csv, None).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].signal.value, "+447700900123");
    assert_eq!(rows[0].line, 2);
    assert!(rows[0].expires_at.is_some());
    assert_eq!(rows[1].signal.value, "d41d8cd98f00b204e9800998ecf8427e");

    let plain = "d41d8cd98f00b204e9800998ecf8427e\n# a comment\n900150983cd24fb0d6963f7d28e17f72\n";
    let rows = parse_signal_file(plain.as_bytes(), FileFormat::Csv, Some(SignalKind::Md5)).unwrap();
    assert_eq!(rows.len(), 2);

    let bad = "kind,value\nphone,0770\ntlsh,abc\nurl,https://ok.example\n";
    match parse_signal_file(bad.as_bytes(), FileFormat::Csv, None) {
        Err(SignalFileError::Rows(errors)) => {
            assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
        }
        other => panic!("expected row errors, got {other:?}"),
    }
    assert!(matches!(
        parse_signal_file(b"kind,value,colour\n", FileFormat::Csv, None),
        Err(SignalFileError::UnknownColumn(_))
    ));

    let json = r#"[{"kind":"handle","value":"Telegram:@X_1"},{"kind":"domain","value":"a.example","expires_at":1700000000000}]"#;
    let rows = parse_signal_file(json.as_bytes(), FileFormat::Json, None).unwrap();
    assert_eq!(rows[0].signal.value, "telegram:x_1");
    assert_eq!(rows[1].expires_at, Some(1_700_000_000_000));
    let jsonl = "{\"kind\":\"phrase\",\"value\":\"boat\"}\n{\"kind\":\"phrase\",\"valu\":\"x\"}\n";
    assert!(matches!(
        parse_signal_file(jsonl.as_bytes(), FileFormat::Json, None),
        Err(SignalFileError::Rows(e)) if e[0].0 == 2
    ));
    assert_eq!(
        parse_signal_file(&[0xff, 0xfe], FileFormat::Csv, None),
        Err(SignalFileError::NotUtf8)
    );
}

#[test]
fn signals_disputed_by_enough_partners_stop_matching() {
    let mut m = Matcher::new();
    m.set_banks([bank(1, "phones", 31)]);
    let mut e = entry(1, 1, SignalKind::Phone, "+447700900123");
    e.disputes = 1;
    m.insert(e.clone());
    let ents = [entity(EntityKind::Phone, "+447700900123")];
    let input = MatchInput {
        entities: &ents,
        ..Default::default()
    };
    assert_eq!(m.find(&input, 0).len(), 1);
    e.disputes = 2;
    m.insert(e);
    assert!(m.find(&input, 0).is_empty());
    // A bank that ignores disputes keeps matching.
    let mut lenient = bank(1, "phones", 31);
    lenient.dispute_limit = 0;
    m.set_banks([lenient]);
    assert_eq!(m.find(&input, 0).len(), 1);
}
