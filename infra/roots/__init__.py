"""The composition roots: embedded, cluster, which store serves each view, `photoshare up`'s supervisor."""
