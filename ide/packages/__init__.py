"""mip packages installed from this computer: :mod:`index` reads micropython-lib's published layout (and
github:/gitlab: package.json files) and fetches verified files through a cache; :mod:`install` writes them to the
board's lib folder through the verified transfers of :class:`~ide.filebrowser.board_fs.BoardFS`, and lists and
removes them. The board needs no network."""
