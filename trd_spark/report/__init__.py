"""Tables, figures, the HTML report and All of Us small-count suppression."""
