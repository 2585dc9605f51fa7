import click


@click.command()
def main():
    click.echo('hi')


main()
