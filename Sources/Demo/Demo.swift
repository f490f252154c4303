// The demo's tiny checkpoint and synthetic task.
