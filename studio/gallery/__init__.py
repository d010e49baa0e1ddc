"""The gallery: images browsed and searched, image pages, favourites and collections."""
