"""What every local job kind shares: detached processes and their hand-over."""
