#!/usr/bin/perl
# Net::SMPP (Debian libnet-smpp-perl) as the ESME against tools/smsc-sim:
# reads a dialled USSD deliver_sm, ends the session with a PSSR response,
# submits an MT asking for a receipt and reads the receipt. Dies on a mismatch.
# Usage: netsmpp_ussd.pl SMPP_PORT CONTROL_PORT
use strict;
use warnings;
use Net::SMPP;

my ($port, $ctl) = @ARGV;
my $msisdn = '254755000001';
my ($smpp, $resp) = Net::SMPP->new_transceiver('127.0.0.1', port => $port,
	system_id => 'ussdgw', password => 'ussdgw', smpp_version => 0x34)
	or die "connect: $!\n";
die "bind status $resp->{status}\n" if $resp->{status};

system('curl', '-s', '-o', '/dev/null', '-XPOST', '-d', qq({"msisdn":"$msisdn","code":"*384#"}),
	"http://127.0.0.1:$ctl/ussd/dial") == 0 or die "dial failed\n";
my $pdu = $smpp->read_pdu() or die "no deliver_sm\n";
die "not a USSD deliver_sm\n" unless $pdu->{cmd} == 0x05 && $pdu->{service_type} eq 'USSD';
die "ussd_service_op\n" unless ($pdu->{ussd_service_op} // '') eq "\x01";
die "its_session_info\n" unless length($pdu->{its_session_info} // '') == 2;
die "short_message '$pdu->{short_message}'\n" unless $pdu->{short_message} eq '*384#' && $pdu->{data_coding} == 0x0F;
$smpp->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
print "ok   Net::SMPP read the USSD deliver_sm (op 1, its_session_info, dcs 0x0F)\n";

my $its = substr($pdu->{its_session_info}, 0, 1) . "\x01";
$resp = $smpp->submit_sm(service_type => 'USSD', source_addr => '384', destination_addr => $msisdn,
	data_coding => 0x0F, short_message => "Perl says bye", ussd_service_op => chr(17),
	its_session_info => $its);
die "USSD submit status $resp->{status}\n" if $resp->{status};

$resp = $smpp->submit_sm(source_addr => 'DEMO', destination_addr => $msisdn,
	short_message => 'receipt please', registered_delivery => 1);
die "MT submit status $resp->{status}\n" if $resp->{status};
my $id = $resp->{message_id};
$pdu = $smpp->read_pdu() or die "no receipt\n";
die "receipt esm_class\n" unless $pdu->{cmd} == 0x05 && ($pdu->{esm_class} & 0x04);
# Net::SMPP keeps the C-string NUL in receipted_message_id and gives message_state as a raw byte
(my $rid = $pdu->{receipted_message_id} // '') =~ s/\0$//;
die "receipted_message_id '$rid' ne '$id'\n" unless $rid eq $id;
die "message_state\n" unless ($pdu->{message_state} // '') eq "\x02";
die "receipt text\n" unless $pdu->{short_message} =~ /^id:\Q$id\E sub:001 dlvrd:001 .* stat:DELIVRD err:000 text:receipt please$/;
$smpp->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
print "ok   Net::SMPP got the receipt for $id (receipted_message_id, message_state 2)\n";
$resp = $smpp->unbind();
die "unbind status $resp->{status}\n" if $resp->{status};
