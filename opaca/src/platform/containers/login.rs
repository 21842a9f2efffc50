//! Logging in to a process container with its own credentials (OPACA's
//! `/containers/login/{id}` and `/containers/logout/{id}`): the token it gives is kept
//! per user and sent with that user's calls to the container.

use reqwest::Method;

use super::ContainerKind;
use crate::platform::auth::Identity;
use crate::platform::model::{ErrorResponse, Login};
use crate::platform::{OpacaError, Platform};

impl Platform {
    /// Log in to a container with its own credentials; the token it gave.
    pub async fn container_login(
        &self,
        identity: &Identity,
        id: &str,
        login: &Login,
    ) -> Result<String, OpacaError> {
        let container = self
            .container(identity, id)
            .ok_or_else(|| OpacaError::new(404, format!("no container {id:?}")))?;
        let ContainerKind::Process(process) = &container.kind else {
            return Err(OpacaError::downstream(
                "the container does not support login",
                ErrorResponse {
                    status_code: 501,
                    message: "Wasm agent containers take no login".into(),
                    cause: None,
                },
            ));
        };
        let url = format!("{}/login", process.url);
        let response = self
            .call(
                &identity.tenant,
                Method::POST,
                &url,
                Some(login),
                Some(&container.token),
                None,
            )
            .await?;
        let token = response
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| response.to_string());
        let token = token.trim_matches('"').to_string();
        container
            .logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(identity.name.clone(), token.clone());
        Ok(token)
    }

    /// Log out of a container; whether there was a login.
    pub async fn container_logout(
        &self,
        identity: &Identity,
        id: &str,
    ) -> Result<bool, OpacaError> {
        let container = self
            .container(identity, id)
            .ok_or_else(|| OpacaError::new(404, format!("no container {id:?}")))?;
        let token = container
            .logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&identity.name);
        if let (Some(token), ContainerKind::Process(process)) = (&token, &container.kind) {
            let url = format!("{}/logout", process.url);
            let _ = self
                .call::<()>(
                    &identity.tenant,
                    Method::POST,
                    &url,
                    None,
                    Some(&container.token),
                    Some(token),
                )
                .await;
        }
        Ok(token.is_some())
    }
}
