use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{quick, Direct};

fn prompt_for(subject: &str, agent: u64) -> Value {
    json!({"agentMessages": [{"subject": subject, "message": "m", "targetType": "Agent", "targetId": agent}]})
}

impl Direct {
    async fn active(&self, query: &str) -> (StatusCode, Value) {
        self.call(self.api(Method::GET, &format!("/contacts/active{query}"), None))
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_delivery_naming_a_contact_makes_it_active_for_a_while() {
    let d = Direct::start(quick()).await;
    assert_eq!(
        d.active("?contactId=123").await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let post = |subject: &str, agent| {
        d.api(
            Method::POST,
            "/agents/messages",
            Some(&prompt_for(subject, agent)),
        )
    };
    assert_eq!(
        d.call(post("Prompt for contact 123", 1001)).await.0,
        StatusCode::OK
    );
    let (status, body) = d.active("?contactId=123").await;
    assert_eq!(
        (status, &body["totalRecords"], &body["businessUnitId"]),
        (StatusCode::OK, &json!(1), &json!(4_607_084))
    );
    let contact = &body["activeContacts"][0];
    assert_eq!(
        (
            &contact["contactId"],
            &contact["masterContactId"],
            &contact["agentId"],
            &contact["stateName"]
        ),
        (&json!(123), &json!(123), &json!(1001), &json!("Active"))
    );
    assert_eq!(
        (
            &contact["contactStateCategory"],
            &contact["mediaTypeName"],
            &contact["isOutbound"]
        ),
        (&json!("With Agent"), &json!("Call"), &json!(false))
    );
    assert!(body["lastPollTime"].is_string() && contact["lastUpdateTime"].is_string());

    // A later delivery for the same contact neither moves it to another agent nor extends it.
    tokio::time::advance(Duration::from_secs(200)).await;
    d.call(post("Again, contact 123", 1002)).await;
    tokio::time::advance(Duration::from_secs(99)).await;
    let (status, body) = d.active("?contactId=123").await;
    assert_eq!(
        (status, &body["activeContacts"][0]["agentId"]),
        (StatusCode::OK, &json!(1001))
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(d.active("?contactId=123").await.0, StatusCode::NO_CONTENT);
    d.call(post("contact 123", 1001)).await;
    assert_eq!(d.active("?contactId=123").await.0, StatusCode::NO_CONTENT);

    // The test hook starts it again, with whichever agent it names.
    let start = axum::http::Request::get("/_fake/contacts/123/start?agentId=1003")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = d.call(start).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"contactId": 123, "agentId": 1003, "activeSecs": 300})
        )
    );
    let (status, body) = d.active("?contactId=123").await;
    assert_eq!(
        (status, &body["activeContacts"][0]["agentId"]),
        (StatusCode::OK, &json!(1003))
    );
    assert_eq!(d.state.shared.counters.snapshot().contact_lookups, 6);
}

#[tokio::test(start_paused = true)]
async fn custom_events_start_contacts_and_all_active_ones_are_listed() {
    let d = Direct::start(quick()).await;
    let event =
        "/agents/7/custom-event?eventName=AssistPrompt&data=%7B%22interactionId%22%3A%22555%22%7D";
    assert_eq!(
        d.call(d.api(Method::PUT, event, None)).await.0,
        StatusCode::OK
    );
    let post = d.api(
        Method::POST,
        "/agents/messages",
        Some(&prompt_for("contact 556", 8)),
    );
    d.call(post).await;
    let (status, body) = d.active("").await;
    let listed: Vec<_> = body["activeContacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["contactId"].clone(), c["agentId"].clone()))
        .collect();
    assert_eq!((status, &body["totalRecords"]), (StatusCode::OK, &json!(2)));
    assert_eq!(listed, [(json!(555), json!(7)), (json!(556), json!(8))]);
    assert_eq!(d.active("?contactId=555").await.1["totalRecords"], json!(1));
    let (status, body) = d.active("?contactId=abc").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error_description": "InvalidContactId"})
        )
    );
    tokio::time::advance(Duration::from_secs(300)).await;
    assert_eq!(d.active("").await.0, StatusCode::NO_CONTENT);
    let bad = axum::http::Request::get("/_fake/contacts/5/start")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(d.call(bad).await.0, StatusCode::BAD_REQUEST);
}
