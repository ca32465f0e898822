//! Checks of the command line's help: headings, listed values, no empty
//! defaults, an example for every command.

use super::Cli;
use clap::{CommandFactory as _, Parser as _};

/// Returns every command's full path and its rendered long help.
fn every_help() -> Vec<(String, String)> {
    fn walk(command: &mut clap::Command, path: String, helps: &mut Vec<(String, String)>) {
        helps.push((path.clone(), command.render_long_help().to_string()));
        for sub in command.get_subcommands_mut().filter(|sub| sub.get_name() != "help") {
            let sub_path = format!("{path} {}", sub.get_name());
            walk(sub, sub_path, helps);
        }
    }
    let mut command = Cli::command();
    command.build();
    let mut helps = Vec::new();
    walk(&mut command, "gantry".into(), &mut helps);
    helps
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_command_has_an_example_and_no_empty_default() {
    for (path, help) in every_help() {
        assert!(help.contains("Examples:\n  "), "{path} has no example:\n{help}");
        assert!(!help.contains("[default: ]") && !help.contains("[default: \"\"]"), "{path}:\n{help}");
    }
}

#[test]
fn global_flags_are_shown_apart_from_a_commands_own() {
    let help = every_help().into_iter().find(|(path, _)| path == "gantry request db").unwrap().1;
    let own = help.find("Options:").expect("own options");
    let connection = help.find("Connection options:").expect("connection options");
    let global = help.find("Global options:").expect("global options");
    assert!(own < connection && own < global, "{help}");
    let own_section = &help[own..connection.min(global)];
    assert!(own_section.contains("--name") && !own_section.contains("--token"), "{help}");
    assert!(help[connection..].contains("--token") && help[global..].contains("--output"), "{help}");
}

#[test]
fn enum_flags_list_their_values() {
    let helps = every_help();
    let help = |path: &str| helps.iter().find(|(p, _)| p == path).unwrap().1.clone();
    let db = help("gantry request db");
    for value in ["dev", "staging", "prod", "access", "xlarge"] {
        assert!(db.contains(value), "{value} missing:\n{db}");
    }
    assert!(help("gantry request bucket").contains("backend-state"));
    assert!(help("gantry request list").contains("pending_approval"));
    assert!(help("gantry catalog export").contains("backstage"));
    assert!(help("gantry request show").contains("json"));
}

#[test]
fn unknown_enum_words_are_refused_by_the_parser() {
    let args = ["gantry", "request", "db", "--name", "x", "--owner", "o", "--requester", "r", "--domain", "d"];
    let parse = |env: &str| {
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--env", env, "--risk", "low", "--size", "small"]);
        Cli::try_parse_from(args)
    };
    assert!(parse("prod").is_ok());
    let error = parse("production").unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
}

#[test]
fn watch_takes_a_timeout() {
    let cli = Cli::try_parse_from(["gantry", "request", "watch", "id", "--timeout", "10m"]).unwrap();
    let super::Command::Request(super::RequestCommand::Watch(watch)) = cli.command else { panic!() };
    assert_eq!(watch.timeout, Some(std::time::Duration::from_secs(600)));
}

/// Returns the `gantry ...` command lines of the README's walkthrough, with
/// continuation lines joined and `<ID>` filled in, as words.
fn walkthrough_commands() -> Vec<Vec<String>> {
    let readme = include_str!("../../../../README.md");
    let walkthrough = &readme[readme.find("## Walkthrough").expect("a walkthrough")..];
    let block = walkthrough.split("```").nth(1).expect("a code block");
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter_map(|line| line.find("gantry ").map(|start| &line[start..]))
        .filter(|line| !line.starts_with("gantry="))
        // What the shell does with the output (`> file`, `| jq`) is not gantry's.
        .map(|line| line.split(" > ").next().and_then(|line| line.split(" | ").next()).unwrap_or_default())
        .map(|line| shell_words(&line.replace("<ID>", "01936b2e-0000-7000-8000-000000000000")))
        .collect()
}

/// Splits a command line into words, honouring double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut started) = (String::new(), false, false);
    for character in line.chars() {
        match character {
            '"' => (quoted, started) = (!quoted, true),
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            other => (word, started) = (word + &other.to_string(), true),
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn every_readme_walkthrough_command_parses() {
    let commands = walkthrough_commands();
    assert!(commands.len() > 10, "{commands:?}");
    for words in commands {
        if words.iter().any(|word| word == "--help") {
            continue;
        }
        if let Err(error) = Cli::try_parse_from(&words) {
            panic!("README: {words:?} does not parse:\n{error}");
        }
    }
}

#[test]
fn the_readme_shows_server_field_errors_with_words_the_parser_accepts() {
    let invalid = walkthrough_commands()
        .into_iter()
        .find(|words| words.windows(2).any(|pair| pair == ["--name", "Orders"]))
        .expect("the invalid-input example");
    assert!(Cli::try_parse_from(&invalid).is_ok(), "{invalid:?}");
    assert!(invalid.windows(2).any(|pair| pair == ["--owner", ""]), "{invalid:?}");
}
