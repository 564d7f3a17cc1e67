#!/usr/bin/env bash
# Lays out a SPARK_HOME from the Spark jars Maven resolved (deploy/spark-home), as a Spark distribution has it:
# jars/ (links to the jars), a RELEASE file, and this folder's bin/ (spark-class, spark-submit). Prints its path.
#   deploy/standalone/spark-home.sh            # -> deploy/standalone/target/spark-home
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cp_file="$root/deploy/spark-home/target/classpath.txt"
if [ ! -f "$cp_file" ]; then
  (cd "$root" && mvn -q -B -ntp package -pl deploy/spark-home) >&2
fi
home="$here/target/spark-home"
if [ -f "$home/RELEASE" ] && [ "$home/RELEASE" -nt "$cp_file" ]; then
  echo "$home" # already laid out from this list of jars
  exit 0
fi
rm -rf "$home"
mkdir -p "$home/jars" "$home/conf" "$home/logs" "$home/work"
tr ':' '\n' < "$cp_file" | while read -r jar; do
  [ -n "$jar" ] && ln -s "$jar" "$home/jars/$(basename "$jar")"
done
ln -s "$here/bin" "$home/bin"
version=$(ls "$home/jars" | sed -n 's/^spark-core_2\.13-\(.*\)\.jar$/\1/p')
echo "Spark $version built for Scala 2.13 (jars resolved by Maven for Ringtape's tests)" > "$home/RELEASE"
echo "$home"
