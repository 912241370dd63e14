"""A workspace: one database, its artifact store and every service over them (`opening`), and
copying a whole workspace to another database (`transfer`). Composes the features below it."""
