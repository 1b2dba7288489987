//! Colours and glyphs. Only the 16 basic ANSI colours are used (they work in every terminal and
//! over SSH); `NO_COLOR` turns colour off; `ascii` swaps Braille plot dots for plain ones.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

use crate::protocol::Net;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            color: true,
            ascii: false,
        }
    }
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (<https://no-color.org>), Braille unless `ascii`.
    pub fn from_env(ascii: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            color: !no_color,
            ascii,
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// The colour of a net's series: plain red, residual green.
    pub fn net(self, net: Net) -> Style {
        match net {
            Net::Plain => self.fg(Color::Red),
            Net::Residual => self.fg(Color::Green),
        }
    }

    /// The residual branch (as opposed to its shortcut) in the flow chart.
    pub fn branch(self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn marker_line(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn fault(self) -> Style {
        self.fg(Color::LightRed).add_modifier(Modifier::BOLD)
    }

    pub fn warning(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Highlight for the number that matters (the plain-vs-residual gap).
    pub fn highlight(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn plot_marker(self) -> Marker {
        if self.ascii {
            Marker::Dot
        } else {
            Marker::Braille
        }
    }

    /// Heat-strip glyphs from cold to hot.
    pub fn shades(self) -> &'static [char] {
        if self.ascii {
            &[' ', '.', ':', '-', '=', '+', '*', '#', '@']
        } else {
            &[' ', '░', '▒', '▓', '█']
        }
    }

    /// Heat-strip colour from cold (0.0) to hot (1.0).
    pub fn heat(self, level: f64) -> Style {
        let color = match level {
            l if l < 0.2 => Color::Blue,
            l if l < 0.4 => Color::Cyan,
            l if l < 0.6 => Color::Green,
            l if l < 0.8 => Color::Yellow,
            _ => Color::Red,
        };
        self.fg(color)
    }
}
