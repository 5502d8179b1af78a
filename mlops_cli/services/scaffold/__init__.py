"""`mlops init`: a new project from a CSV file. inference.py decides the dataset's schema from the file, configs.py
renders the four config files, project.py checks and writes the folder."""
