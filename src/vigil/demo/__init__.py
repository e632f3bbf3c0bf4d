"""The demo: sample cameras built from footage and photos that packages ship."""
