//! Terminal tables (comfy-table, fitted to a width) and CSV.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::format::{display, raw};
use super::view::{ReportView, Section, Value};

/// Terminal width the tables are laid out for: readable in an 100-column terminal.
pub const TABLE_WIDTH: u16 = 100;

fn section_table(section: &Section, width: u16) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(section.columns.iter().map(|column| column.label));
    for row in &section.rows {
        table.add_row(row.iter().map(display));
    }
    // Numbers right-aligned so digits line up; decided by the first row with a value.
    for (index, column) in table.column_iter_mut().enumerate() {
        let numeric = section
            .rows
            .iter()
            .map(|row| &row[index])
            .find(|value| !matches!(value, Value::Missing | Value::SmallBase))
            .is_some_and(Value::is_numeric);
        if numeric {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Breaks `text` at spaces so no line is wider than `width` characters; lines after the
/// first start with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + 1 + word.chars().count();
        if !line.is_empty() && needed > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        }
        if !line.is_empty() && line != indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whole report as text: title, context lines, each section's table, then notes.
pub fn render_table(view: &ReportView, width: u16) -> String {
    let columns = usize::from(width);
    let mut out = String::new();
    out.push_str(&wrap(&view.title, columns, "  "));
    for line in &view.context {
        out.push_str(&wrap(line, columns, "  "));
    }
    for section in &view.sections {
        out.push('\n');
        out.push_str(&wrap(&section.title, columns, "  "));
        if section.rows.is_empty() {
            out.push_str("(none)\n");
            continue;
        }
        out.push_str(&section_table(section, width).to_string());
        out.push('\n');
        if section.rows_left_out > 0 {
            out.push_str(&format!(
                "… and {} more (raise --top, or --top 0 for all)\n",
                display(&Value::Count(section.rows_left_out as i64))
            ));
        }
    }
    if !view.notes.is_empty() {
        out.push('\n');
        for note in &view.notes {
            out.push_str(&wrap(&format!("note: {note}"), columns, "      "));
        }
    }
    out
}

/// The report's first section as CSV (the other sections are in the JSON and HTML forms):
/// machine headers, plain numbers.
pub fn render_csv(view: &ReportView) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if let Some(section) = view.sections.first() {
        writer.write_record(section.columns.iter().map(|column| column.key))?;
        for row in &section.rows {
            writer.write_record(row.iter().map(raw))?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapped_lines_fit_the_width() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let wrapped = wrap(text, 20, "  ");
        assert!(
            wrapped.lines().all(|line| line.chars().count() <= 20),
            "{wrapped}"
        );
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>().join(" "),
            text
        );
        assert!(wrapped.lines().skip(1).all(|line| line.starts_with("  ")));
    }
}
