use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{quick, send, Direct, Harness};
use crate::fake_tenant::{cxone::records::CustomEvent, FakeTenantSettings};

fn message(subject: &str, target_type: &str, target_id: Value) -> Value {
    json!({"subject": subject, "message": "Offer a refund", "targetType": target_type, "targetId": target_id})
}

#[tokio::test]
async fn agent_messages_are_posted_listed_and_deleted() {
    let h = Harness::start(quick()).await;
    let body = json!({"agentMessages": [
        message("Prompt", "Agent", json!(1001)),
        message("Prompt", "Team", json!(1001)),
        message("Prompt", "Agent", json!("1001")),
        {"subject": "Later", "message": "Check the order", "targetType": "Agent", "targetId": 1001,
         "expireMinutes": 7, "startDate": "05-14-2019"},
    ]});
    let (status, _, posted, _) = send(h.api(Method::POST, "/agents/messages").json(&body)).await;
    assert_eq!((status, &posted["errorCount"]), (StatusCode::OK, &json!(2)));
    let results = posted["agentMessageResults"].as_array().unwrap();
    let successes: Vec<_> = results
        .iter()
        .map(|result| result["success"].clone())
        .collect();
    assert_eq!(
        successes,
        [json!(true), json!(false), json!(false), json!(true)]
    );
    assert_eq!(
        (&results[1]["error"], &results[0]["error"]),
        (&json!("Invalid Agent Id"), &Value::Null)
    );
    let (first, last) = (
        results[0]["agentMessageId"].as_u64().unwrap(),
        results[3]["agentMessageId"].as_u64().unwrap(),
    );
    assert!(first > 0 && last > first, "{posted}");

    let (status, _, listed, _) = send(h.api(Method::GET, "/agents/1001/messages")).await;
    assert_eq!(status, StatusCode::OK);
    let messages = listed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{listed}");
    assert_eq!(
        (
            &messages[0]["messageId"],
            &messages[0]["messageText"],
            &messages[0]["expireTimer"]
        ),
        (&json!(first), &json!("Offer a refund"), &json!(5))
    );
    assert_eq!(
        (
            &messages[1]["subject"],
            &messages[1]["expireTimer"],
            &messages[1]["startDate"]
        ),
        (&json!("Later"), &json!(7), &json!("05-14-2019"))
    );
    assert!(messages[0]["validUntil"].is_string() && messages[0]["startDate"].is_string());

    let (status, _, _, _) = send(h.api(Method::DELETE, &format!("/agents/messages/{first}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, listed, _) = send(h.api(Method::GET, "/agents/1001/messages")).await;
    assert_eq!(listed["messages"].as_array().unwrap().len(), 1);
    let (_, _, other, _) = send(h.api(Method::GET, "/agents/1002/messages")).await;
    assert_eq!(other, json!({"messages": []}));
    for gone in [first.to_string(), "999999".into(), "abc".into()] {
        let (status, headers, _, _) =
            send(h.api(Method::DELETE, &format!("/agents/messages/{gone}"))).await;
        assert_eq!(
            (status, headers["icstatusdescription"].to_str().unwrap()),
            (StatusCode::NOT_FOUND, "Invalid Message Id")
        );
    }
    let (status, headers, _, _) = send(h.api(Method::GET, "/agents/x1/messages")).await;
    assert_eq!(
        (status, headers["icstatusdescription"].to_str().unwrap()),
        (StatusCode::NOT_FOUND, "Invalid Agent Id")
    );
    let stats = h.fake.stats();
    assert_eq!(
        (
            stats.agent_message_posts,
            stats.agent_messages_delivered,
            stats.agent_messages_deleted,
            stats.agent_message_lists
        ),
        (1, 2, 1, 4)
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn agent_messages_without_subject_or_text_are_refused_whole() {
    let h = Harness::start(quick()).await;
    let no_text = json!({"subject": "s", "targetType": "Agent", "targetId": 1});
    for body in [
        json!({"agentMessages": [message("s", "Agent", json!(1)), no_text]}),
        json!({"agentMessages": [message("", "Agent", json!(1))]}),
        json!({"agentMessages": []}),
        json!({"messages": []}),
    ] {
        let (status, headers, _, _) =
            send(h.api(Method::POST, "/agents/messages").json(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(headers.contains_key("icstatusdescription"));
    }
    assert_eq!(h.fake.stats().agent_messages_delivered, 0);
    h.fake.stop().await;
}

#[tokio::test]
async fn custom_events_keep_the_last_of_each_name() {
    let d = Direct::start(quick()).await;
    let put = |query: &str| {
        d.api(
            Method::PUT,
            &format!("/agents/1001/custom-event?{query}"),
            None,
        )
    };
    let (status, body) = d
        .call(put(
            "eventName=AssistPrompt&persistInMemory=true&data=%7B%22a%22%3A1%7D",
        ))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    d.call(put("eventName=AssistPrompt&data=second")).await;
    d.call(put("eventName=assistprompt&data=other")).await;
    let records = &d.state.records;
    let event = |data: &str, persist_in_memory| {
        Some(CustomEvent {
            data: data.into(),
            persist_in_memory,
        })
    };
    assert_eq!(records.event(1001, "AssistPrompt"), event("second", false));
    assert_eq!(records.event(1001, "assistprompt"), event("other", false));
    assert_eq!(records.event(1002, "AssistPrompt"), None);
    assert_eq!(d.call(put("data=x")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        d.call(put("eventName=E&persistInMemory=maybe")).await.0,
        StatusCode::BAD_REQUEST
    );
    let bad_agent = d.api(Method::PUT, "/agents/abc/custom-event?eventName=E", None);
    let (status, body) = d.call(bad_agent).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"error_description": "Invalid Agent Id"})
        )
    );
    assert_eq!(d.state.shared.counters.snapshot().custom_events, 6);
}

#[tokio::test]
async fn delivery_calls_take_the_429_and_failure_knobs_and_store_nothing() {
    let limited = |retry_after_secs| FakeTenantSettings {
        rate_limited_rate: 1.0,
        retry_after_secs,
        ..quick()
    };
    let failing = FakeTenantSettings {
        failure_rate: 1.0,
        ..quick()
    };
    let body = json!({"agentMessages": [message("Prompt for contact 77", "Agent", json!(5))]});
    for (settings, status, retry_after) in [
        (limited(7), StatusCode::TOO_MANY_REQUESTS, Some("7")),
        (limited(0), StatusCode::TOO_MANY_REQUESTS, None),
        (failing, StatusCode::SERVICE_UNAVAILABLE, None),
    ] {
        let h = Harness::start(settings).await;
        let (got, headers, _, _) = send(h.api(Method::POST, "/agents/messages").json(&body)).await;
        let header = headers
            .get("retry-after")
            .map(|value| value.to_str().unwrap());
        assert_eq!((got, header), (status, retry_after));
        let event = "/agents/5/custom-event?eventName=E&data=%7B%22interactionId%22%3A%2278%22%7D";
        let (got, headers, _, _) = send(h.api(Method::PUT, event)).await;
        let header = headers
            .get("retry-after")
            .map(|value| value.to_str().unwrap());
        assert_eq!((got, header), (status, retry_after));
        let (_, _, listed, _) = send(h.api(Method::GET, "/agents/5/messages")).await;
        assert_eq!(listed, json!({"messages": []}));
        let (lookup, _, _, _) = send(h.api(Method::GET, "/contacts/active")).await;
        assert_eq!(lookup, StatusCode::NO_CONTENT);
        h.fake.stop().await;
    }
}
