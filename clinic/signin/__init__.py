"""Staff sign-in: password with lockout (django-axes), a TOTP second factor for
personal-data roles (django-otp), an idle timeout, and API tokens for
integrations (django-rest-knox). See the README's "Staff sign-in"."""
