"""What both HTTP services share: who is calling (`auth`) and how errors look (`problems`)."""
