data "aws_region" "current" {}

locals {
  # The API's OAuth scopes: the resource server's identifier is part of the contract (docs/api.md; the handler, the
  # local gateway and the CLI use "toxiguard/moderate"), so it is fixed, not derived from the deployment's name.
  resource_server_identifier = "toxiguard"
  scope_descriptions = {
    moderate = "Score comments (POST /v1/moderate)"
    review   = "Read and decide review items"
  }
  # Taken from the resource server, so the clients that ask for these scopes are created after it.
  scope_identifiers = { for name, _ in local.scope_descriptions : name => "${aws_cognito_resource_server.this.identifier}/${name}" }
  # The page signs a person in (openid) and calls every route a moderator may use.
  web_client_scopes = ["openid", local.scope_identifiers.moderate, local.scope_identifiers.review]

  hosted_ui_url = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.region}.amazoncognito.com"
}

################################################################################
# User pool: people (moderators) are invited by an administrator, never sign themselves up
################################################################################

resource "aws_cognito_user_pool" "this" {
  name = var.name
  # Essentials (the default tier of new pools) covers the hosted UI, TOTP and machine-to-machine clients. Threat
  # protection (advanced security) needs the Plus tier at a higher price per user; see the README.
  user_pool_tier      = "ESSENTIALS"
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  # People sign in with their e-mail address, which also receives the invitation and password-reset codes.
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  username_configuration {
    case_sensitive = false
  }

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  # Moderators will decide on flagged comments (the review queue): an authenticator app on every sign-in. The hosted
  # UI walks a new user through setting it up. TOTP only: SMS would need an SNS role and costs per message.
  mfa_configuration = "ON"
  software_token_mfa_configuration {
    enabled = true
  }

  tags = var.tags
}

resource "aws_cognito_user_group" "moderators" {
  name         = "moderators"
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "People who may review flagged comments; tokens of members carry cognito:groups = [\"moderators\"]."
}

################################################################################
# Resource server: the API's scopes
################################################################################

resource "aws_cognito_resource_server" "this" {
  identifier   = local.resource_server_identifier
  name         = "${var.name} moderation API"
  user_pool_id = aws_cognito_user_pool.this.id

  dynamic "scope" {
    for_each = local.scope_descriptions

    content {
      scope_name        = scope.key
      scope_description = scope.value
    }
  }
}

################################################################################
# App clients
################################################################################

# Platform backends: client credentials (a secret, no user), scoring only.
resource "aws_cognito_user_pool_client" "backend" {
  name         = "${var.name}-backend"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["client_credentials"]
  allowed_oauth_scopes                 = [local.scope_identifiers.moderate]
  # No user sign-in through the user pools API with this client.
  explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]

  access_token_validity = var.access_token_validity_minutes
  token_validity_units {
    access_token = "minutes"
  }
  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"
}

# The web page and moderator console: a public client (code in the browser, so no secret), authorization code with
# PKCE through the hosted UI.
resource "aws_cognito_user_pool_client" "web" {
  name         = "${var.name}-web"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = local.web_client_scopes
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.redirect_urls
  logout_urls                          = var.redirect_urls
  # People sign in on the hosted UI only: no direct user pools API sign-in, whose tokens carry
  # aws.cognito.signin.user.admin (account changes) instead of the API's scopes.
  explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]

  access_token_validity  = var.access_token_validity_minutes
  id_token_validity      = var.access_token_validity_minutes
  refresh_token_validity = var.refresh_token_validity_days
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
  enable_token_revocation       = true
  prevent_user_existence_errors = "ENABLED"
}

################################################################################
# Hosted UI domain (the page's sign-in and the /oauth2/token endpoint)
################################################################################

resource "aws_cognito_user_pool_domain" "this" {
  domain       = var.domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
  # 1 = the classic hosted UI, which needs no branding resource; 2 (managed login) needs a style per client.
  managed_login_version = 1
}
