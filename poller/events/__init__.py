"""Pure builders of AWS-exact Lambda event records."""
